//! Identifier domains (assigning authorities): the registry that resolves a `system` given as a
//! URL, `urn:oid:OID`, a bare OID or a namespace to one domain, the MPI's own enterprise
//! domain, and the use cases that add, change, list and remove domains.
//!
//! Identifiers of a registered domain are stored with the domain's canonical system (its URL,
//! else `urn:oid:OID`, else its namespace). Identifiers stored before their domain was added (or
//! under another of its names) keep their text: lookups ask for every name of a domain
//! ([`Registry::aliases_of`]) and views render the canonical one ([`Registry::render`]), so they
//! resolve to the domain all the same.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, ConnectionTrait,
    EntityTrait, QueryFilter, QueryOrder, SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use entity::{domain_assigner, identifier_domain, source};

use crate::audit::{self, AuditEntry};
use crate::keys::Action;
use crate::{Ctx, Error, Mpi, Result};

/// Longest namespace, OID or URL accepted.
pub const MAX_NAME_LEN: usize = 64;
/// Longest OID accepted.
pub const MAX_OID_LEN: usize = 64;
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 255;
/// Longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 1_000;
/// Most assigners one domain may list.
pub const MAX_ASSIGNERS: usize = 100;
/// Most domains a registry holds.
pub const MAX_DOMAINS: usize = 10_000;

/// What to do with an identifier whose system is not a registered domain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownDomains {
    /// Store it with its system as given (the quick start works with any system).
    #[default]
    Accept,
    /// Refuse it: nothing is stored.
    Reject,
}

impl std::str::FromStr for UnknownDomains {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "accept" => Ok(UnknownDomains::Accept),
            "reject" => Ok(UnknownDomains::Reject),
            other => Err(format!("unknown mode {other:?}: use accept or reject")),
        }
    }
}

/// The MPI's own domain, in which `person_id` is the enterprise identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnterpriseDomain {
    /// Namespace (HL7 HD.1), `MPI` by default.
    pub namespace: String,
    /// URL (FHIR `Identifier.system`), `urn:mpi:person` by default.
    pub url: String,
    /// OID (HL7 HD.2), when the deployment has one.
    pub oid: Option<String>,
}

impl Default for EnterpriseDomain {
    fn default() -> Self {
        EnterpriseDomain {
            namespace: "MPI".to_owned(),
            url: "urn:mpi:person".to_owned(),
            oid: None,
        }
    }
}

/// A registered identifier domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Row id.
    pub id: Uuid,
    /// Namespace (HL7 HD.1), unique.
    pub name: String,
    /// OID (HL7 HD.2 with HD.3 `ISO`), unique.
    pub oid: Option<String>,
    /// URL (FHIR `Identifier.system`), unique.
    pub url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// One value names one person: records sharing it are the same person.
    pub links_records: bool,
    /// The sources that may assign identifiers here (none: any authorised caller).
    pub assigners: Vec<String>,
    /// Whether this is the MPI's own domain (`person_id`).
    pub enterprise: bool,
}

impl Domain {
    /// The system REST and FHIR show: the URL, else `urn:oid:OID`, else the namespace.
    pub fn system(&self) -> String {
        match (&self.url, &self.oid) {
            (Some(url), _) => url.clone(),
            (None, Some(oid)) => format!("urn:oid:{oid}"),
            (None, None) => self.name.clone(),
        }
    }

    /// Every text a caller or an old record may use for this domain's system.
    pub fn aliases(&self) -> Vec<String> {
        let mut out = vec![self.name.clone()];
        if let Some(oid) = &self.oid {
            out.push(oid.clone());
            out.push(format!("urn:oid:{oid}"));
        }
        if let Some(url) = &self.url {
            out.push(url.clone());
        }
        out.dedup();
        out
    }

    /// The HL7 v2 assigning authority (HD): `NS&OID&ISO`, or `NS` without an OID.
    pub fn hl7_authority(&self) -> String {
        match &self.oid {
            Some(oid) => format!("{}&{oid}&ISO", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether `source` may assign identifiers here (any source when no assigner is listed).
    pub fn assigned_by(&self, source: &str) -> bool {
        self.assigners.is_empty() || self.assigners.iter().any(|a| a == source)
    }
}

/// Whether `system` is the MPI's own record of where an imported record came from
/// (`urn:mpi:import:<source>`, see [`crate::import::source_system`]): known in every mode.
pub fn is_import_system(system: &str) -> bool {
    system.trim().starts_with("urn:mpi:import:")
}

/// Most characters of a system text an error message repeats.
pub const MAX_SYSTEM_IN_MESSAGE: usize = 200;

/// The message refusing an identifier system that names no registered domain, with the system
/// as given (a domain's URL, OID or namespace names an assigning authority, not a patient):
/// quoted, control characters left out, at most [`MAX_SYSTEM_IN_MESSAGE`] characters (`...`
/// after a longer one). The identifier's value is never in it.
pub fn unknown_domain_message(system: &str) -> String {
    let clean: String = system.trim().chars().filter(|c| !c.is_control()).collect();
    let mut shown: String = clean.chars().take(MAX_SYSTEM_IN_MESSAGE).collect();
    if clean.chars().count() > MAX_SYSTEM_IN_MESSAGE {
        shown.push_str("...");
    }
    format!("{shown:?} is not a registered identifier domain")
}

/// The key a system text is looked up by: trimmed, with the `urn:oid:` prefix folded.
fn alias_key(system: &str) -> String {
    let s = system.trim();
    match s.get(..8) {
        Some(prefix) if prefix.eq_ignore_ascii_case("urn:oid:") => s[8..].to_owned(),
        _ => s.to_owned(),
    }
}

/// The registered domains, resolvable by any of their names. Cheap to share (`Arc`).
#[derive(Clone, Debug)]
pub struct Registry {
    domains: Vec<Domain>,
    by_alias: HashMap<String, usize>,
    unknown: UnknownDomains,
}

impl Registry {
    /// A registry of `domains` plus the enterprise domain.
    pub fn new(
        mut domains: Vec<Domain>,
        enterprise: &EnterpriseDomain,
        unknown: UnknownDomains,
    ) -> Registry {
        domains.push(Domain {
            id: Uuid::nil(),
            name: enterprise.namespace.clone(),
            oid: enterprise.oid.clone(),
            url: Some(enterprise.url.clone()),
            description: Some("the MPI's enterprise identifier (person_id)".to_owned()),
            links_records: false,
            assigners: Vec::new(),
            enterprise: true,
        });
        let mut by_alias = HashMap::new();
        for (i, d) in domains.iter().enumerate() {
            for alias in d.aliases() {
                by_alias.entry(alias_key(&alias)).or_insert(i);
            }
        }
        Registry {
            domains,
            by_alias,
            unknown,
        }
    }

    /// Reads the domains and their assigners from the database.
    pub async fn load<C: ConnectionTrait>(
        db: &C,
        enterprise: &EnterpriseDomain,
        unknown: UnknownDomains,
    ) -> Result<Registry> {
        Ok(Registry::new(list_in(db).await?, enterprise, unknown))
    }

    /// The domain `system` names (any of its names), the enterprise domain included.
    pub fn resolve(&self, system: &str) -> Option<&Domain> {
        self.by_alias
            .get(&alias_key(system))
            .map(|&i| &self.domains[i])
    }

    /// The registered domains (the enterprise domain last).
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// The MPI's own domain.
    pub fn enterprise(&self) -> &Domain {
        self.domains
            .iter()
            .rev()
            .find(|d| d.enterprise)
            .expect("the registry always holds the enterprise domain")
    }

    /// What happens to identifiers of unregistered systems.
    pub fn unknown_domains(&self) -> UnknownDomains {
        self.unknown
    }

    /// The system texts identifiers of `system`'s domain may be stored under: every name of a
    /// registered domain, else `system` itself (trimmed).
    pub fn aliases_of(&self, system: &str) -> Vec<String> {
        match self.resolve(system) {
            Some(d) if !d.enterprise => d.aliases(),
            _ => vec![system.trim().to_owned()],
        }
    }

    /// The system to show for a stored one: its domain's canonical system, else as stored.
    pub fn render(&self, system: &str) -> String {
        match self.resolve(system) {
            Some(d) => d.system(),
            None => system.to_owned(),
        }
    }

    /// Rewrites the identifiers' systems of a patient view to their canonical form.
    pub fn render_patient(&self, patient: &mut crate::patients::Patient) {
        for row in &mut patient.record.identifiers {
            if let Some(d) = self.resolve(&row.system) {
                row.system = d.system();
            }
        }
    }

    /// Checks the identifiers a caller gives and puts each registered one in its domain's
    /// canonical system. The enterprise domain is the MPI's to assign (refused); an unregistered
    /// system is refused in [`UnknownDomains::Reject`] mode (`unknown_domain`, naming
    /// `identifiers[i].system`). `path` prefixes the field names.
    pub fn canonicalize(
        &self,
        path: &str,
        identifiers: &mut [crate::patients::IdentifierInput],
    ) -> Result<()> {
        for (i, ident) in identifiers.iter_mut().enumerate() {
            match self.resolve(&ident.system) {
                Some(d) if d.enterprise => {
                    return Err(Error::refused(
                        crate::error::Refusal::Invalid,
                        "enterprise_domain",
                        format!("{path}identifiers[{i}].system"),
                        "names the MPI's own domain, whose identifiers only the MPI assigns",
                    ));
                }
                Some(d) => ident.system = d.system(),
                None if self.unknown == UnknownDomains::Reject
                    && !is_import_system(&ident.system) =>
                {
                    return Err(Error::refused(
                        crate::error::Refusal::Invalid,
                        "unknown_domain",
                        format!("{path}identifiers[{i}].system"),
                        unknown_domain_message(&ident.system),
                    ));
                }
                None => ident.system = ident.system.trim().to_owned(),
            }
        }
        Ok(())
    }
}

impl Registry {
    /// Whether `source` may assign identifiers under the stored or given `system`: a registered
    /// domain's assigners (any source when it lists none), and any system that is not a
    /// registered domain (accept mode). Never the enterprise domain.
    pub fn may_assign(&self, source: &str, system: &str) -> bool {
        match self.resolve(system) {
            Some(d) => !d.enterprise && d.assigned_by(source),
            None => true,
        }
    }

    /// Checks that `source` may write a record with these identifiers: at least one of them in
    /// a domain it may assign (the others ride along as references). Refused with 403
    /// `domain_not_authorised` naming `field`, the message naming the domains the record's
    /// identifiers are in (the source assigns in none of them; domain names are no PHI).
    pub fn check_authority<'a>(
        &self,
        source: &str,
        field: &str,
        systems: impl Iterator<Item = &'a str>,
    ) -> Result<()> {
        let mut lacking: Vec<&str> = Vec::new();
        for system in systems {
            if self.may_assign(source, system) {
                return Ok(());
            }
            // Not assignable, so a registered domain (an unregistered system is assignable).
            if let Some(d) = self.resolve(system)
                && !lacking.contains(&d.name.as_str())
            {
                lacking.push(&d.name);
            }
        }
        let message = if lacking.is_empty() {
            "the record has no identifier in a domain the source assigns".to_owned()
        } else {
            format!(
                "the source assigns identifiers in none of the record's identifier domains \
                 (not authorised in: {})",
                lacking.join(", ")
            )
        };
        Err(Error::refused(
            crate::error::Refusal::NotAuthorised,
            "domain_not_authorised",
            field,
            message,
        ))
    }
}

/// A domain as given to add or change it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainInput {
    /// Namespace (HL7 HD.1); required.
    pub name: String,
    /// OID, digits and dots (`2.16.840.1.113883.3.72.5.9.1`).
    pub oid: Option<String>,
    /// URL or URN (FHIR `Identifier.system`).
    pub url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Records sharing a value of this domain are one person.
    pub links_records: bool,
    /// Names of the sources that may assign here (none: any authorised caller).
    pub assigners: Vec<String>,
}

fn is_oid(text: &str) -> bool {
    let mut arcs = text.split('.');
    let first_ok = matches!(arcs.next(), Some("0" | "1" | "2"));
    let mut count = 1;
    let rest_ok = arcs.all(|arc| {
        count += 1;
        !arc.is_empty()
            && arc.bytes().all(|b| b.is_ascii_digit())
            && (arc == "0" || !arc.starts_with('0'))
    });
    first_ok && rest_ok && count >= 2
}

/// HL7 v2 delimiters and characters that have no place in a system.
fn has_delimiter(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_whitespace() || c.is_control() || "|^~\\&".contains(c))
}

impl DomainInput {
    /// Trims the values and checks them (field names as in the REST body).
    pub fn validate(&mut self) -> Result<()> {
        self.name = self.name.trim().to_owned();
        let trim = |v: &mut Option<String>| {
            *v = v
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        trim(&mut self.oid);
        trim(&mut self.url);
        trim(&mut self.description);
        if self.name.is_empty() {
            return Err(Error::validation("name", "is required"));
        }
        if self.name.chars().count() > MAX_NAME_LEN {
            return Err(Error::validation(
                "name",
                format!("is longer than {MAX_NAME_LEN} characters"),
            ));
        }
        if has_delimiter(&self.name) || self.name.contains(':') {
            return Err(Error::validation(
                "name",
                "may not hold spaces, ':' or the HL7 delimiters | ^ ~ \\ &",
            ));
        }
        if is_oid(&self.name) {
            return Err(Error::validation("name", "is an OID; give it as oid"));
        }
        if let Some(oid) = &mut self.oid {
            if let Some(bare) = oid.strip_prefix("urn:oid:") {
                *oid = bare.to_owned();
            }
            if oid.len() > MAX_OID_LEN || !is_oid(oid) {
                return Err(Error::validation(
                    "oid",
                    "is not an OID (digits separated by dots, e.g. 2.16.840.1.113883)",
                ));
            }
        }
        if let Some(url) = &self.url {
            if url.chars().count() > MAX_URL_LEN {
                return Err(Error::validation(
                    "url",
                    format!("is longer than {MAX_URL_LEN} characters"),
                ));
            }
            let scheme_ok = url.split_once(':').is_some_and(|(scheme, rest)| {
                !rest.is_empty()
                    && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
            if !scheme_ok || has_delimiter(url) {
                return Err(Error::validation(
                    "url",
                    "is not an absolute URI (e.g. http://example.org/mrn or urn:...)",
                ));
            }
            if url.to_ascii_lowercase().starts_with("urn:oid:") {
                return Err(Error::validation("url", "is an OID; give it as oid"));
            }
        }
        if let Some(d) = &self.description
            && d.chars().count() > MAX_DESCRIPTION_LEN
        {
            return Err(Error::validation(
                "description",
                format!("is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        if self.assigners.len() > MAX_ASSIGNERS {
            return Err(Error::validation(
                "assigners",
                format!("lists more than {MAX_ASSIGNERS} sources"),
            ));
        }
        for a in &mut self.assigners {
            *a = a.trim().to_owned();
        }
        let mut seen = std::collections::HashSet::new();
        for (i, a) in self.assigners.iter().enumerate() {
            if a.is_empty() {
                return Err(Error::validation(format!("assigners[{i}]"), "is blank"));
            }
            if !seen.insert(a.as_str()) {
                return Err(Error::validation(
                    format!("assigners[{i}]"),
                    "repeats an earlier source",
                ));
            }
        }
        Ok(())
    }
}

/// Every registered domain with its assigners, by name.
pub async fn list_in<C: ConnectionTrait>(db: &C) -> Result<Vec<Domain>> {
    let rows = identifier_domain::Entity::find()
        .order_by_asc(identifier_domain::Column::Name)
        .all(db)
        .await?;
    let sources: HashMap<Uuid, String> = source::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let mut assigners: HashMap<Uuid, Vec<String>> = HashMap::new();
    for a in domain_assigner::Entity::find().all(db).await? {
        if let Some(name) = sources.get(&a.source_id) {
            assigners.entry(a.domain_id).or_default().push(name.clone());
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut names = assigners.remove(&r.id).unwrap_or_default();
            names.sort();
            Domain {
                id: r.id,
                name: r.name,
                oid: r.oid,
                url: r.url,
                description: r.description,
                links_records: r.links_records,
                assigners: names,
                enterprise: false,
            }
        })
        .collect())
}

/// The domain named `name` (namespace, OID or URL).
async fn find_in<C: ConnectionTrait>(db: &C, name: &str) -> Result<Domain> {
    let key = alias_key(name);
    list_in(db)
        .await?
        .into_iter()
        .find(|d| d.aliases().iter().any(|a| alias_key(a) == key))
        .ok_or_else(|| Error::not_found("identifier_domain", "(by name)"))
}

/// Adds (`existing = None`) or changes a domain inside `txn`; audited.
async fn save_in<C: ConnectionTrait>(
    txn: &C,
    ctx: &Ctx,
    enterprise: &EnterpriseDomain,
    existing: Option<&Domain>,
    mut input: DomainInput,
) -> Result<Domain> {
    input.validate()?;
    let others: Vec<Domain> = list_in(txn)
        .await?
        .into_iter()
        .filter(|d| existing.is_none_or(|e| e.id != d.id))
        .collect();
    if existing.is_none() && others.len() >= MAX_DOMAINS {
        return Err(Error::conflict(
            "too_many_domains",
            format!("at most {MAX_DOMAINS} domains can be registered"),
        ));
    }
    let taken = Registry::new(others, enterprise, UnknownDomains::Accept);
    for (field, alias) in [
        ("name", Some(input.name.clone())),
        ("oid", input.oid.clone()),
        ("url", input.url.clone()),
    ] {
        if let Some(alias) = alias
            && taken.resolve(&alias).is_some()
        {
            return Err(Error::Conflict {
                code: "duplicate_domain",
                message: format!("{field}: another domain already has this name, OID or URL"),
                detail: Some(json!({ "field": field })),
            });
        }
    }
    let mut source_ids = Vec::new();
    for (i, name) in input.assigners.iter().enumerate() {
        let found = source::Entity::find()
            .filter(source::Column::Name.eq(name.as_str()))
            .one(txn)
            .await?
            .ok_or_else(|| {
                Error::validation(format!("assigners[{i}]"), "is not a registered source")
            })?;
        source_ids.push(found.id);
    }
    let actor = ctx.actor.name.as_str();
    let id = match existing {
        None => {
            let id = Uuid::new_v4();
            identifier_domain::ActiveModel {
                id: Set(id),
                name: Set(input.name.clone()),
                oid: Set(input.oid.clone()),
                url: Set(input.url.clone()),
                description: Set(input.description.clone()),
                links_records: Set(input.links_records),
                created_at: NotSet,
                updated_at: NotSet,
                created_by: Set(actor.to_owned()),
                updated_by: Set(actor.to_owned()),
            }
            .insert(txn)
            .await
            .map_err(duplicate_domain)?;
            id
        }
        Some(d) => {
            identifier_domain::ActiveModel {
                id: Set(d.id),
                name: Set(input.name.clone()),
                oid: Set(input.oid.clone()),
                url: Set(input.url.clone()),
                description: Set(input.description.clone()),
                links_records: Set(input.links_records),
                updated_at: Set(chrono::Utc::now().fixed_offset()),
                updated_by: Set(actor.to_owned()),
                ..Default::default()
            }
            .update(txn)
            .await
            .map_err(duplicate_domain)?;
            domain_assigner::Entity::delete_many()
                .filter(domain_assigner::Column::DomainId.eq(d.id))
                .exec(txn)
                .await?;
            d.id
        }
    };
    for source_id in source_ids {
        domain_assigner::ActiveModel {
            id: Set(Uuid::new_v4()),
            domain_id: Set(id),
            source_id: Set(source_id),
            created_at: NotSet,
            updated_at: NotSet,
            created_by: Set(actor.to_owned()),
            updated_by: Set(actor.to_owned()),
        }
        .insert(txn)
        .await?;
    }
    let saved = list_in(txn)
        .await?
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| Error::not_found("identifier_domain", id))?;
    let mut entry = AuditEntry::new(
        if existing.is_some() {
            "update"
        } else {
            "create"
        },
        "identifier_domain",
        Some(id.to_string()),
    )
    .after(audit::json(&saved));
    if let Some(before) = existing {
        entry = entry.before(audit::json(before));
    }
    audit::record(txn, ctx, entry).await?;
    Ok(saved)
}

fn duplicate_domain(e: sea_orm::DbErr) -> Error {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
            "duplicate_domain",
            "another domain already has this name, OID or URL",
        ),
        _ => Error::Db(e),
    }
}

/// Removes a domain inside `txn`; audited. Identifiers stored in it stay as they are.
async fn remove_in<C: ConnectionTrait>(txn: &C, ctx: &Ctx, name: &str) -> Result<Domain> {
    let domain = find_in(txn, name).await?;
    identifier_domain::Entity::delete_by_id(domain.id)
        .exec(txn)
        .await?;
    audit::record(
        txn,
        ctx,
        AuditEntry::new("delete", "identifier_domain", Some(domain.id.to_string()))
            .before(audit::json(&domain)),
    )
    .await?;
    Ok(domain)
}

/// Adds a domain over a plain connection (the CLI); audited. `ctx` is the system's.
pub async fn add_with_db(
    db: &sea_orm::DatabaseConnection,
    ctx: &Ctx,
    enterprise: &EnterpriseDomain,
    input: DomainInput,
) -> Result<Domain> {
    let txn = db.begin().await?;
    crate::name_the_writer(&txn, ctx).await?;
    let saved = save_in(&txn, ctx, enterprise, None, input).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Removes a domain over a plain connection (the CLI); audited.
pub async fn remove_with_db(
    db: &sea_orm::DatabaseConnection,
    ctx: &Ctx,
    name: &str,
) -> Result<Domain> {
    let txn = db.begin().await?;
    let removed = remove_in(&txn, ctx, name).await?;
    txn.commit().await?;
    Ok(removed)
}

/// Every registered domain (the enterprise domain not included).
pub async fn list_with_db<C: ConnectionTrait>(db: &C) -> Result<Vec<Domain>> {
    list_in(db).await
}

/// Lists the domains (admin), the enterprise domain last.
pub async fn list(mpi: &Mpi, ctx: &Ctx) -> Result<Vec<Domain>> {
    ctx.authorize(Action::ManageDomains)?;
    mpi.reload_domains().await?;
    Ok(mpi.domains().domains().to_vec())
}

/// Adds a domain (admin); audited.
pub async fn add(mpi: &Mpi, ctx: &Ctx, input: DomainInput) -> Result<Domain> {
    ctx.authorize(Action::ManageDomains)?;
    let txn = mpi.write_txn().await?;
    let result = save_in(&*txn, ctx, &mpi.config().enterprise, None, input).await;
    let saved = crate::patients::finish(txn, result).await?;
    mpi.reload_domains().await?;
    Ok(saved)
}

/// Changes the domain named `name` (any of its names) to `input` (admin); audited.
pub async fn update(mpi: &Mpi, ctx: &Ctx, name: &str, input: DomainInput) -> Result<Domain> {
    ctx.authorize(Action::ManageDomains)?;
    let txn = mpi.write_txn().await?;
    let result = async {
        let existing = find_in(&*txn, name).await?;
        save_in(&*txn, ctx, &mpi.config().enterprise, Some(&existing), input).await
    }
    .await;
    let saved = crate::patients::finish(txn, result).await?;
    mpi.reload_domains().await?;
    Ok(saved)
}

/// Removes the domain named `name` (admin); audited.
pub async fn remove(mpi: &Mpi, ctx: &Ctx, name: &str) -> Result<Domain> {
    ctx.authorize(Action::ManageDomains)?;
    let txn = mpi.write_txn().await?;
    let result = remove_in(&*txn, ctx, name).await;
    let removed = crate::patients::finish(txn, result).await?;
    mpi.reload_domains().await?;
    Ok(removed)
}

/// A shared, replaceable registry (what [`Mpi`] holds). Loads are numbered when they start,
/// and a load replaces the registry only if it started after the one in place: a catch-up that
/// read the table before an `add` committed must not put back what the `add` replaced.
#[derive(Default)]
pub(crate) struct RegistryCell {
    tickets: std::sync::atomic::AtomicU64,
    current: std::sync::RwLock<Option<(u64, Arc<Registry>)>>,
}

impl RegistryCell {
    pub(crate) fn get(&self) -> Arc<Registry> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, r)| Arc::clone(r))
            .expect("the registry is loaded at start")
    }

    /// The number of a load about to start.
    pub(crate) fn ticket(&self) -> u64 {
        self.tickets
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }

    /// Puts in the registry of load `ticket`, unless a later load's is in place already.
    pub(crate) fn set(&self, ticket: u64, registry: Registry) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_none_or(|(t, _)| *t < ticket) {
            *current = Some((ticket, Arc::new(registry)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        let d = Domain {
            id: Uuid::new_v4(),
            name: "TEST".into(),
            oid: Some("2.16.840.1.113883.3.72.5.9.1".into()),
            url: Some("http://ohie.org/test/test".into()),
            description: None,
            links_records: false,
            assigners: vec![],
            enterprise: false,
        };
        Registry::new(
            vec![d],
            &EnterpriseDomain::default(),
            UnknownDomains::Accept,
        )
    }

    #[test]
    fn an_unknown_domain_is_named_quoted_bounded_and_clean() {
        assert_eq!(
            unknown_domain_message(" urn:other:mrn "),
            "\"urn:other:mrn\" is not a registered identifier domain"
        );
        assert_eq!(
            unknown_domain_message("a\r\nb\u{7}c"),
            "\"abc\" is not a registered identifier domain"
        );
        let long = "x".repeat(MAX_SYSTEM_IN_MESSAGE + 50);
        let message = unknown_domain_message(&long);
        assert!(
            message.starts_with(&format!("\"{}...\"", "x".repeat(MAX_SYSTEM_IN_MESSAGE))),
            "{message}"
        );
    }

    #[test]
    fn the_three_names_resolve_to_one_domain() {
        let r = registry();
        for s in [
            "TEST",
            "2.16.840.1.113883.3.72.5.9.1",
            "urn:oid:2.16.840.1.113883.3.72.5.9.1",
            "URN:OID:2.16.840.1.113883.3.72.5.9.1",
            " http://ohie.org/test/test ",
        ] {
            assert_eq!(r.resolve(s).map(|d| d.name.as_str()), Some("TEST"), "{s}");
            assert_eq!(r.render(s), "http://ohie.org/test/test");
        }
        assert!(r.resolve("urn:mrn").is_none());
        assert_eq!(r.render("urn:mrn"), "urn:mrn");
        assert!(r.resolve("urn:mpi:person").unwrap().enterprise);
        assert_eq!(
            r.resolve("TEST").unwrap().hl7_authority(),
            "TEST&2.16.840.1.113883.3.72.5.9.1&ISO"
        );
    }

    #[test]
    fn oids_are_checked() {
        assert!(is_oid("2.16.840.1.113883.3.72.5.9.1"));
        assert!(is_oid("1.0"));
        assert!(!is_oid("2"));
        assert!(!is_oid("3.1"));
        assert!(!is_oid("2..1"));
        assert!(!is_oid("2.01"));
        assert!(!is_oid("2.a"));
    }
}
