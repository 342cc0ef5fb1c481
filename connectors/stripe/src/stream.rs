//! The Stripe lists this connector pulls, named once: stream names, API paths, id prefixes.

use std::fmt;
use std::str::FromStr;

/// One Stripe list the connector can pull. The stream name is also the last segment of the
/// list's path (`GET /v1/charges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StripeStream {
    /// `GET /v1/charges`: payments attempted against a card or other payment method.
    Charges,
    /// `GET /v1/customers`: the account's customers (deleted ones are not listed).
    Customers,
    /// `GET /v1/invoices`: invoices in every status, drafts included.
    Invoices,
}

impl StripeStream {
    /// Every stream, in the order [`Connector::streams`](tributary_connector::Connector::streams)
    /// lists them.
    pub const ALL: [StripeStream; 3] = [
        StripeStream::Charges,
        StripeStream::Customers,
        StripeStream::Invoices,
    ];

    /// The stream name, as used in jobs and in the list's path.
    pub fn as_str(self) -> &'static str {
        match self {
            StripeStream::Charges => "charges",
            StripeStream::Customers => "customers",
            StripeStream::Invoices => "invoices",
        }
    }

    /// One line for humans: what a record of this stream is.
    pub fn description(self) -> &'static str {
        match self {
            StripeStream::Charges => {
                "A charge: amount in the currency's smallest unit, status, customer, outcome."
            }
            StripeStream::Customers => "A customer with contact details, address and metadata.",
            StripeStream::Invoices => "An invoice with its status, amounts and line items.",
        }
    }

    /// The `object` field Stripe gives records of this stream (`charge`, `customer`, `invoice`).
    pub fn object_name(self) -> &'static str {
        match self {
            StripeStream::Charges => "charge",
            StripeStream::Customers => "customer",
            StripeStream::Invoices => "invoice",
        }
    }
}

impl fmt::Display for StripeStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stream name that is not one of [`StripeStream::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown stream `{0}`; the stripe connector has charges, customers and invoices")]
pub struct UnknownStream(pub String);

impl FromStr for StripeStream {
    type Err = UnknownStream;

    fn from_str(name: &str) -> Result<Self, UnknownStream> {
        StripeStream::ALL
            .into_iter()
            .find(|stream| stream.as_str() == name)
            .ok_or_else(|| UnknownStream(name.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for stream in StripeStream::ALL {
            assert_eq!(stream.as_str().parse::<StripeStream>(), Ok(stream));
        }
        let error = "refunds".parse::<StripeStream>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown stream `refunds`; the stripe connector has charges, customers and invoices"
        );
    }
}
