//! Typed ids. Ids are opaque strings made by the store (a short prefix naming the kind, then
//! random characters), so an id of one kind cannot be passed where another is expected and ids
//! reveal nothing about counts or order.

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, example = $prefix)]
        pub struct $name(pub String);

        impl $name {
            /// The prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
    };
}

id!(/// An organisation: a merchant.
    OrgId, "org_");
id!(/// A person who can sign in.
    UserId, "usr_");
id!(/// A product in an organisation's catalogue.
    ProductId, "prd_");
id!(/// One buyable variant of a product (a size, a colour).
    VariantId, "var_");
id!(/// A product image.
    ImageId, "img_");
id!(/// A show: a scheduled, live or ended live-shopping broadcast.
    ShowId, "shw_");
id!(/// An invitation to join an organisation or to host one show.
    InvitationId, "inv_");
id!(/// An API token for integrations.
    TokenId, "tok_");
id!(/// A buyer's cart at one organisation.
    CartId, "crt_");
id!(/// Units of a variant held in a cart until checkout or expiry.
    HoldId, "hld_");
id!(/// A flash deal started by a show's run of show.
    DealId, "dl_");
id!(/// A clip cut from a show's recording.
    ClipId, "clp_");
