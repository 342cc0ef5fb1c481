//! `queue-admin tokens ...`: API tokens for the CLI and automation, managed directly in the
//! database. `tokens create` prints the token — and nothing else — on standard output, once:
//! `TOKEN=$(queue-admin tokens create --name ci --role operator)`.

use crate::auth::accounts;
use crate::auth::Role;
use std::process::ExitCode;

/// The commands.
#[derive(Debug, clap::Subcommand)]
pub enum TokensCommand {
    /// Create a token and print it (only it, once: it is stored hashed).
    Create {
        /// A name for humans (`ci`, `pager-bot`); audit rows name it `token:<name>`.
        #[arg(long)]
        name: String,
        /// viewer, operator or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Stop accepting it after this many days (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List tokens (their first characters, never the tokens).
    List,
    /// Revoke a token by id (from `tokens list`).
    Revoke {
        /// The token's id.
        id: i64,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
}

fn time(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map_or_else(
        || "-".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// Runs one.
pub async fn run(settings: &crate::Settings, command: TokensCommand) -> anyhow::Result<ExitCode> {
    let store = crate::app::connect_store(settings).await?;
    let actor = super::os_actor();
    match command {
        TokensCommand::Create {
            name,
            role,
            expires_days,
        } => {
            let (_, token) =
                accounts::create_token(&store, &name, role, expires_days, &actor).await?;
            println!("{}", token.secret);
        }
        TokensCommand::List => {
            println!(
                "{:>6}  {:<24} {:<14} {:<9} {:<16} {:<16} {:<16} STATUS",
                "ID", "NAME", "STARTS", "ROLE", "CREATED", "EXPIRES", "LAST USED"
            );
            for token in store.tokens().await? {
                let status = if token.revoked_at.is_some() {
                    "revoked"
                } else if token.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:>6}  {:<24} {:<14} {:<9} {:<16} {:<16} {:<16} {status}",
                    token.id,
                    token.name,
                    token.prefix,
                    token.role,
                    time(Some(token.created_at)),
                    time(token.expires_at),
                    time(token.last_used_at),
                );
            }
        }
        TokensCommand::Revoke { id } => {
            if accounts::revoke_token(&store, id, &actor).await? {
                println!("token {id} revoked");
            } else {
                println!("token {id} was already revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
