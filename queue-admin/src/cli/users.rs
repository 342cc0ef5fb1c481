//! `queue-admin users ...`: local users of the web UI, managed directly in the database (so the
//! first admin can be created before anyone can sign in). Audit rows name the operating-system
//! user (`cli:<user>`).
//!
//! `users add` and `users passwd` without `--password-stdin` generate a password and print it
//! once, on a line of its own: `password: <password>` (scripts: `sed -n 's/^password: //p'`).

use crate::auth::accounts::{self, GeneratedPassword, NewPassword};
use crate::auth::Role;
use anyhow::Context;
use std::io::BufRead;
use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum UsersCommand {
    /// Add a user. Without --password-stdin a strong password is generated and printed once.
    Add {
        /// The user name (letters, digits, `. _ @ -`; at most 64).
        name: String,
        /// viewer, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password (at least 12 characters) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Give a user another role (ends their sessions).
    SetRole {
        /// The user name.
        name: String,
        /// viewer, operator or admin.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Disable a user: they cannot sign in, and their sessions end.
    Disable {
        /// The user name.
        name: String,
    },
    /// Enable a disabled user.
    Enable {
        /// The user name.
        name: String,
    },
    /// Set a user's password (ends their sessions). Without --password-stdin a strong password
    /// is generated and printed once.
    Passwd {
        /// The user name.
        name: String,
        /// Read the password (at least 12 characters) from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
}

/// The first line of standard input, without its line ending.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    Ok(password.to_owned())
}

fn new_password(from_stdin: bool) -> anyhow::Result<NewPassword> {
    if from_stdin {
        Ok(NewPassword::Given(password_from_stdin()?))
    } else {
        Ok(NewPassword::Generate)
    }
}

/// Runs one.
pub async fn run(settings: &crate::Settings, command: UsersCommand) -> anyhow::Result<ExitCode> {
    let store = crate::app::connect_store(settings).await?;
    let actor = super::os_actor();
    match command {
        UsersCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let generated = accounts::create_user(&store, &name, role, password, &actor).await?;
            println!("created user {name} with the {} role", role.as_str());
            if let Some(GeneratedPassword(password)) = generated {
                println!("password: {password}");
            }
        }
        UsersCommand::List => {
            let users = store.users().await?;
            println!(
                "{:<32} {:<9} {:<9} {:>8}  CREATED",
                "USER", "ROLE", "STATUS", "SESSIONS"
            );
            for user in users {
                println!(
                    "{:<32} {:<9} {:<9} {:>8}  {}",
                    user.username,
                    user.role,
                    if user.disabled { "disabled" } else { "enabled" },
                    user.sessions,
                    user.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                );
            }
        }
        UsersCommand::SetRole { name, role } => {
            let changed = accounts::set_role(&store, &name, role, &actor).await?;
            if changed {
                println!(
                    "{name} now has the {} role; their sessions were ended",
                    role.as_str()
                );
            } else {
                println!("{name} already has the {} role", role.as_str());
            }
        }
        UsersCommand::Disable { name } => {
            if accounts::set_disabled(&store, &name, true, &actor).await? {
                println!("{name} disabled; their sessions were ended");
            } else {
                println!("{name} was already disabled");
            }
        }
        UsersCommand::Enable { name } => {
            if accounts::set_disabled(&store, &name, false, &actor).await? {
                println!("{name} enabled");
            } else {
                println!("{name} was already enabled");
            }
        }
        UsersCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = new_password(password_stdin)?;
            let generated = accounts::set_password(&store, &name, password, &actor).await?;
            println!("password of {name} changed; their sessions were ended");
            if let Some(GeneratedPassword(password)) = generated {
                println!("password: {password}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
