//! Who is acting and through which request: passed to every use case so it can be audited.

pub use entity::enums::Role;

/// The authenticated caller: the API key's name and role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The key's name (never the key itself).
    pub name: String,
    /// The key's role.
    pub role: Role,
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
}

impl Ctx {
    /// A context for work started by the system itself (start-up, batch jobs, the CLI).
    pub fn system(name: &str) -> Ctx {
        Ctx {
            actor: Actor {
                name: name.to_owned(),
                role: Role::Admin,
            },
            meta: RequestMeta::default(),
        }
    }
}
