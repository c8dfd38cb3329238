//! Who is acting and through which request: passed to every use case so it can be audited.

pub use entity::enums::Role;

/// The authenticated caller: the API key's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The key's name (never the key itself).
    pub name: String,
    /// The key's role.
    pub role: Role,
    /// The source the caller acts as (a key created with `--source`, or an HL7 v2 sender):
    /// its writes are held to that source's authority over identifier domains. `None` for
    /// keys that are not a source (stewards and admins keep their rights).
    pub source: Option<String>,
}

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The request id (from `X-Request-Id` or generated).
    pub request_id: Option<String>,
    /// The client's address.
    pub client_addr: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

/// Everything a use case needs to know about the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctx {
    /// Who.
    pub actor: Actor,
    /// Through which request.
    pub meta: RequestMeta,
    /// The hash of the caller's API key when it was taken from the server's key cache
    /// ([`crate::keys::KeyCache`]) instead of being read from the database for this request:
    /// appending the request's audit row confirms, in the same statement or transaction, that
    /// the key is still live, and refuses the row (and so the answer) with
    /// [`crate::Error::Unauthenticated`] when it has been revoked. `None` when the key was
    /// checked against the database for this request, or for work of the system itself.
    pub unconfirmed_key: Option<String>,
}

impl Ctx {
    /// A context for work started by the system itself (start-up, batch jobs, the CLI).
    pub fn system(name: &str) -> Ctx {
        Ctx {
            actor: Actor {
                name: name.to_owned(),
                role: Role::Admin,
                source: None,
            },
            meta: RequestMeta::default(),
            unconfirmed_key: None,
        }
    }
}
