//! The CapabilityStatement of `GET /fhir/metadata`: exactly what the facade supports.

use serde::Serialize;

use super::patient::{CodeableConcept, Coding};

/// Header that makes `POST /fhir/Patient` register despite certain or probable duplicates.
pub const FORCE_HEADER: &str = "X-MPI-Force";

/// The software.
#[derive(Clone, Debug, Serialize)]
pub struct Software {
    /// Name.
    pub name: &'static str,
    /// Version.
    pub version: &'static str,
}

/// A supported interaction.
#[derive(Clone, Debug, Serialize)]
pub struct Interaction {
    /// `read`, `create`, `update`, `delete`, `search-type`.
    pub code: &'static str,
    /// What the MPI does, when the resource's notes do not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documentation: Option<&'static str>,
}

impl Interaction {
    fn of(code: &'static str) -> Interaction {
        Interaction {
            code,
            documentation: None,
        }
    }
}

/// This installation (kind `instance` needs it, constraint cpb-14).
#[derive(Clone, Debug, Serialize)]
pub struct Implementation {
    /// What it is.
    pub description: &'static str,
    /// Its FHIR base URL, as the request reached it.
    pub url: String,
}

/// A supported search parameter.
#[derive(Clone, Debug, Serialize)]
pub struct SearchParam {
    /// Its name.
    pub name: &'static str,
    /// Its definition.
    pub definition: &'static str,
    /// `string`, `date`, `token`, `number`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// What the MPI does with it.
    pub documentation: &'static str,
}

/// A supported operation.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// Its name (without `$`).
    pub name: &'static str,
    /// Its OperationDefinition.
    pub definition: &'static str,
    /// What the MPI does.
    pub documentation: &'static str,
}

/// What is supported on Patient.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestResource {
    /// `Patient`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Notes.
    pub documentation: &'static str,
    /// Interactions.
    pub interaction: Vec<Interaction>,
    /// `versioned-update`.
    pub versioning: &'static str,
    /// No history.
    pub read_history: bool,
    /// No create through PUT of an id.
    pub update_create: bool,
    /// Conditional create (`If-None-Exist` on `identifier`; Patient only).
    pub conditional_create: bool,
    /// Conditional update (ITI-104) on `identifier`.
    pub conditional_update: bool,
    /// Conditional delete of a single record (ITI-104) on `identifier`.
    pub conditional_delete: &'static str,
    /// `_include` values supported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search_include: Vec<&'static str>,
    /// `_revinclude` values supported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub search_rev_include: Vec<&'static str>,
    /// Search parameters.
    pub search_param: Vec<SearchParam>,
    /// Operations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operation: Vec<Operation>,
}

/// Security.
#[derive(Clone, Debug, Serialize)]
pub struct Security {
    /// No CORS headers.
    pub cors: bool,
    /// The kind.
    pub service: Vec<CodeableConcept>,
    /// How to authenticate.
    pub description: &'static str,
}

/// The server's REST capabilities.
#[derive(Clone, Debug, Serialize)]
pub struct Rest {
    /// `server`.
    pub mode: &'static str,
    /// Notes.
    pub documentation: &'static str,
    /// Security.
    pub security: Security,
    /// Resources.
    pub resource: Vec<RestResource>,
    /// System-level operations (`$process-message`, the PMIR feed).
    pub operation: Vec<Operation>,
}

/// Where FHIR messages reach this server (`CapabilityStatement.messaging.endpoint`).
#[derive(Clone, Debug, Serialize)]
pub struct MessagingEndpoint {
    /// `http` (http://terminology.hl7.org/CodeSystem/message-transport).
    pub protocol: Coding,
    /// The URL messages are POSTed to.
    pub address: String,
}

/// A message this server receives or sends.
#[derive(Clone, Debug, Serialize)]
pub struct SupportedMessage {
    /// `receiver` or `sender`.
    pub mode: &'static str,
    /// The MessageDefinition's canonical.
    pub definition: &'static str,
}

/// FHIR messaging (`CapabilityStatement.messaging`): the PMIR feed received and sent.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Messaging {
    /// Where messages are received (cpb-3: only in a statement of kind `instance`).
    pub endpoint: Vec<MessagingEndpoint>,
    /// Minutes a received message's id is remembered to recognise a resend: 0, none is.
    pub reliable_cache: u32,
    /// Notes.
    pub documentation: &'static str,
    /// The messages.
    pub supported_message: Vec<SupportedMessage>,
}

/// The code system of `messaging.endpoint.protocol`.
pub const MESSAGE_TRANSPORT: &str = "http://terminology.hl7.org/CodeSystem/message-transport";

/// IHE PMIR's Mobile Patient Identity Feed MessageDefinition (ITI-93), as the IG publishes it
/// (`MessageHeader.definition` of its MessageHeader profile). PMIR's actor statements spell it
/// `.../StructureDefintion/IHE.PMIR.MessageDefinition`, a URL that names no resource.
pub const PMIR_FEED_DEFINITION: &str = super::notify::FEED_DEFINITION;

/// A CapabilityStatement.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityStatement {
    /// Always `CapabilityStatement`.
    pub resource_type: &'static str,
    /// `active`.
    pub status: &'static str,
    /// When this statement was produced.
    pub date: String,
    /// Publisher.
    pub publisher: &'static str,
    /// `instance`.
    pub kind: &'static str,
    /// The IHE actor CapabilityStatements this server meets.
    pub instantiates: Vec<&'static str>,
    /// The software.
    pub software: Software,
    /// This installation.
    pub implementation: Implementation,
    /// `4.0.1`.
    pub fhir_version: &'static str,
    /// Formats.
    pub format: Vec<&'static str>,
    /// REST capabilities.
    pub rest: Vec<Rest>,
    /// Messaging capabilities.
    pub messaging: Vec<Messaging>,
}

const PATIENT_DOC: &str = "Patient records of the Master Patient Index. Create (POST) runs the \
duplicate check first: when certain or probable matches exist nothing is stored and the answer \
is 409 with an OperationOutcome whose issues name the candidates (Patient/{id}, grade, \
probability); resend with the header `X-MPI-Force: true` to register anyway (audited). Possible \
matches are stored and open a review task. Update (PUT) needs `If-Match: W/\"{versionId}\"` (or \
meta.versionId); a stale version is 412. Patient.link (replaced-by, replaces, seealso, refer) is \
read only, except that a conditional update (PUT /fhir/Patient?identifier=SYSTEM|VALUE, IHE ITI-104) of an inactive Patient with a replaced-by link (Patient/{id} or a logical reference by identifier) merges that record into the one linked (undoable as any merge). A conditional update creates the record when no live record holds the identifier (the Patient must carry it), updates the one that does, and answers 412 when several do, or 400 when the Patient's id is not the id of the one record that does; DELETE /fhir/Patient?identifier=SYSTEM|VALUE soft-deletes the one record that holds it (404 when none); DELETE /fhir/Patient/{id} soft-deletes that record (200 OperationOutcome; 404 when no live record has the id). Conditional create: POST with `If-None-Exist: identifier=SYSTEM|VALUE` (repeat `&identifier=` for identifiers that must all be held; other parameters, modifiers and commas are 400) creates the Patient, with the duplicate check, when no live record holds them (201; the Patient must carry them, 422 otherwise), answers 200 with the one record that does (its Location and ETag; nothing is created; audited as a read), and 412 when several do; a concurrent twin is refused by the database and answered 200 with the record it created. There is no history, no patch and no system-level search (PDQm's Supplier statement lists search-system). Changing a merged-away record (an unmerge) is 405. $ihe-pix (IHE PIXm ITI-83, GET or POST) answers the person's identifiers in the other (or the targetSystem) domains and its live records (by a logical id, the record named is not repeated): 404 not-found for an identifier nobody holds, 400 code-invalid for an unknown source domain, 403 code-invalid for an unknown targetSystem. Patient.communication is stored (a language \
is its first coding with a code; preferred kept). The R4 elements the MPI does not store \
(contact, generalPractitioner, photo, extension, language) are accepted and \
ignored (a PMIR answer's OperationOutcome names them); modifierExtension and elements that are \
not R4 Patient elements are rejected with 422; dates are full \
dates (YYYY-MM-DD), deceasedDateTime needs a time zone. Search needs at least one criterion, \
ANDs the criteria (a parameter may repeat), takes a comma as OR inside one parameter and the \
modifiers :exact and :contains on string parameters, pages with _count (default 20, at most \
500) and _page; search, read and \
$match are audited. Search also answers POST /fhir/Patient/_search with the criteria as a form \
body. An unsupported parameter or modifier is ignored and left out of the self link unless the \
request says `Prefer: handling=strict`, which refuses it (400). An identifier domain the MPI \
does not know answers 404 with a warning OperationOutcome (not-found). `_include=Patient:organization` (or its spelling \
Organization:managingOrganization) adds the managing organizations of the page's matches and `_revinclude=RelatedPerson:patient` the RelatedPersons \
that name them (search.mode include). `_pretty=true` indents any JSON answer.";

/// IHE PIXm's Patient Identifier Cross-reference Manager.
pub const PIXM_MANAGER: &str =
    "https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager";
/// IHE PDQm's Patient Demographics Supplier (ITI-78, which every Supplier serves; the IG has no
/// separate Patient Search option statement for the Supplier).
pub const PDQM_SUPPLIER: &str =
    "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier";
/// IHE PMIR's Patient Identity Registry: ITI-93 received (the feed) and sent (to
/// subscribers), ITI-94 Subscription create, read, update and delete, ITI-78 and ITI-83.
pub const PMIR_REGISTRY: &str =
    "https://profiles.ihe.net/ITI/PMIR/CapabilityStatement/IHE.PMIR.PatientIdentityRegistry";
/// IHE PDQm's Patient Demographics Supplier, Match Operation option (ITI-119).
pub const PDQM_SUPPLIER_MATCH: &str = "https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplierMatch";

fn param(name: &'static str, type_: &'static str, documentation: &'static str) -> SearchParam {
    let definition = match name {
        "name" => "http://hl7.org/fhir/SearchParameter/Patient-name",
        "family" => "http://hl7.org/fhir/SearchParameter/individual-family",
        "given" => "http://hl7.org/fhir/SearchParameter/individual-given",
        "birthdate" => "http://hl7.org/fhir/SearchParameter/individual-birthdate",
        "gender" => "http://hl7.org/fhir/SearchParameter/individual-gender",
        "address-postalcode" => "http://hl7.org/fhir/SearchParameter/individual-address-postalcode",
        "address" => "http://hl7.org/fhir/SearchParameter/individual-address",
        "address-city" => "http://hl7.org/fhir/SearchParameter/individual-address-city",
        "address-state" => "http://hl7.org/fhir/SearchParameter/individual-address-state",
        "address-country" => "http://hl7.org/fhir/SearchParameter/individual-address-country",
        "telecom" => "http://hl7.org/fhir/SearchParameter/individual-telecom",
        "phone" => "http://hl7.org/fhir/SearchParameter/individual-phone",
        "email" => "http://hl7.org/fhir/SearchParameter/individual-email",
        "active" => "http://hl7.org/fhir/SearchParameter/Patient-active",
        "mothersMaidenName" => {
            "http://hl7.org/fhir/SearchParameter/patient-extensions-Patient-mothersMaidenName"
        }
        "_id" => "http://hl7.org/fhir/SearchParameter/Resource-id",
        "_lastUpdated" => "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated",
        "language" => "http://hl7.org/fhir/SearchParameter/Patient-language",
        _ => "http://hl7.org/fhir/SearchParameter/Patient-identifier",
    };
    SearchParam {
        name,
        definition,
        type_,
        documentation,
    }
}

/// The statement of the server reached at `base` (its `/fhir` URL; `date` is when it is
/// produced).
pub fn statement(base: String) -> CapabilityStatement {
    CapabilityStatement {
        resource_type: "CapabilityStatement",
        status: "active",
        date: super::patient::instant_text(chrono::Utc::now().fixed_offset()),
        publisher: "MPI",
        kind: "instance",
        // PIXm Manager: $ihe-pix and the ITI-104 feed (conditional update, conditional delete)
        // in JSON and XML, and its conditionalCreate (on identifier).
        // PDQm Supplier and its Match Operation option: ITI-78 with every search parameter
        // the actors' statements list (_lastUpdated, _id, active, family, given, identifier,
        // telecom, birthdate, address and its parts, gender, mothersMaidenName; `:exact`),
        // and ITI-119 `$match`; not their rest-level search-system. PMIR's Patient Identity
        // Registry: the ITI-93 feed received (`$process-message`) and sent to the subscribers
        // of ITI-94 (Subscription create, read, update, delete; `fhir::notify`), with ITI-78
        // and ITI-83 above; not its search-system either.
        instantiates: vec![
            PIXM_MANAGER,
            PDQM_SUPPLIER,
            PDQM_SUPPLIER_MATCH,
            PMIR_REGISTRY,
        ],
        software: Software {
            name: "mpi",
            version: env!("CARGO_PKG_VERSION"),
        },
        implementation: Implementation {
            description: "Master Patient Index: FHIR R4 facade",
            url: base.clone(),
        },
        fhir_version: "4.0.1",
        format: vec![
            "application/fhir+json",
            "json",
            "application/fhir+xml",
            "xml",
        ],
        rest: vec![Rest {
            mode: "server",
            documentation: "A FHIR R4 facade over the MPI's service layer: the same keys, \
roles and audit trail as /api/v1. FHIR JSON or FHIR XML (by Accept, _format or \
Content-Type; 406 or 415 for other formats; _pretty=true indents JSON). The Patient,
RelatedPerson and Subscription resources, and PMIR message Bundles.",
            security: Security {
                cors: false,
                service: vec![CodeableConcept {
                    coding: Vec::new(),
                    text: Some("Bearer API key".to_owned()),
                    ..Default::default()
                }],
                description: "Every request but /fhir/metadata needs `Authorization: Bearer \
<key>` with a key from `mpi keys create`. Roles: registrar (read, search, create, update, \
delete, $match, $ihe-pix), steward (also $merge, merges by the feeds and Subscription), admin \
(all); auditor \
keys cannot read patients (they search AuditEvent).",
            },
            resource: vec![
                RestResource {
                    type_: "Patient",
                    documentation: PATIENT_DOC,
                    interaction: vec![
                        Interaction::of("read"),
                        Interaction {
                            code: "update",
                            documentation: Some(
                                "PUT Patient/{id} with If-Match; conditional update PUT \
Patient?identifier=SYSTEM|VALUE (IHE ITI-104)",
                            ),
                        },
                        Interaction {
                            code: "create",
                            documentation: Some(
                                "POST Patient, with the duplicate check; conditional create \
with If-None-Exist: identifier=SYSTEM|VALUE",
                            ),
                        },
                        Interaction {
                            code: "delete",
                            documentation: Some(
                                "DELETE Patient/{id}, and conditional delete DELETE \
Patient?identifier=SYSTEM|VALUE (IHE ITI-104 Remove Patient): soft delete",
                            ),
                        },
                        Interaction::of("search-type"),
                    ],
                    versioning: "versioned-update",
                    read_history: false,
                    update_create: false,
                    conditional_create: true,
                    conditional_update: true,
                    conditional_delete: "single",
                    search_include: vec![super::pdqm::INCLUDE],
                    search_rev_include: vec![super::pdqm::REVINCLUDE],
                    search_param: super::pdqm::SEARCH_PARAMS
                        .iter()
                        .filter(|(name, _, _)| !matches!(*name, "_count" | "_page"))
                        .map(|(name, type_, documentation)| param(name, type_, documentation))
                        .collect(),
                    operation: vec![
                        Operation {
                            name: "match",
                            definition: "http://hl7.org/fhir/OperationDefinition/Patient-match",
                            documentation: "Parameters resource (a Patient), onlyCertainMatches \
(only certain matches, and only when they are one person; otherwise an empty Bundle), count \
(1..100, default 10). Answers a searchset Bundle, best first, with search.score (the \
match probability) and the match-grade extension (certain, probable, possible).",
                        },
                        Operation {
                            name: "ihe-pix",
                            definition: "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix",
                            documentation: "IHE PIXm ITI-83: sourceIdentifier (SYSTEM|VALUE; the \
system as URL, urn:oid: or namespace of a registered domain; or BASE|Patient/{id}, a Patient \
of this server by its logical id, BASE being this server's FHIR base URL) and targetSystem \
(repeatable). \
Answers Parameters with a targetIdentifier per identifier of the person in the other (or \
target) domains, the enterprise id among them, and a targetId per live record; a merged-away \
record's identifiers answer for its survivor.",
                        },
                        Operation {
                            name: "merge",
                            definition: "http://hl7.org/fhir/OperationDefinition/Patient-merge",
                            documentation: "Parameters source-patient and target-patient \
(references Patient/{id}) and preview. The target survives and gains what the source has and \
it lacks; the source becomes inactive with a replaced-by link. result-patient and the \
*-identifier parameters are not supported (422). Answers Parameters with outcome and result \
(the target). Undo through /api/v1/merges/{id}/undo with the merge id the outcome names.",
                        },
                    ],
                },
                related_person_resource(),
                subscription_resource(),
                audit_event_resource(),
            ],
            operation: vec![Operation {
                name: "process-message",
                definition: "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
                documentation: "IHE PMIR ITI-93 at POST /fhir/Bundle and POST /fhir: a message \
Bundle whose MessageHeader has eventUri urn:ihe:iti:pmir:2019:patient-feed and focuses a \
history Bundle of Patient entries (POST creates; PUT Patient/{id} or \
Patient?identifier=SYSTEM|VALUE creates or updates, or merges when the Patient is inactive and \
replaced-by another; a PUT Patient/{id} whose id the MPI did not assign names the record by \
the Patient's own identifiers in domains the sender may assign; DELETE soft-deletes), \
Organization entries (POST or PUT: stored by identifier, the one holding any of them updated; a \
Patient's managingOrganization may name one by its fullUrl), Practitioner entries (accepted, \
not stored) and RelatedPerson entries (POST creates, PUT \
RelatedPerson/{id} updates, DELETE soft-deletes; RelatedPerson.patient names a Patient entry of \
the message by its fullUrl, or Patient/{id}), at most 100. The whole message is one transaction: \
the answer is a message Bundle whose MessageHeader response.code is ok with each entry's \
status (HTTP 201 when an entry created a resource, else 200) and an OperationOutcome naming \
what was accepted and not stored, or fatal-error (4xx) with an OperationOutcome naming the failing entry, and then \
nothing was stored. An unmerge answers 405. Also at POST /fhir/$process-message.",
            }],
        }],
        messaging: vec![messaging(&base)],
    }
}

/// The PMIR feed as FHIR messaging: ITI-93 received at `$process-message` (and at the base and
/// `Bundle`, which take the same messages), and sent to the endpoint of every active
/// Subscription (ITI-94, `fhir::notify`).
fn messaging(base: &str) -> Messaging {
    Messaging {
        endpoint: vec![MessagingEndpoint {
            protocol: Coding {
                system: Some(MESSAGE_TRANSPORT.to_owned()),
                code: Some("http".to_owned()),
                display: None,
                ..Default::default()
            },
            address: format!("{base}/$process-message"),
        }],
        reliable_cache: 0,
        documentation: "IHE PMIR Mobile Patient Identity Feed (ITI-93). Received: a message \
Bundle POSTed to the endpoint (or to the FHIR base, or to Bundle), JSON or XML, with the same \
keys and roles as the REST interface, processed as one transaction and answered synchronously \
with a response message (event urn:ihe:iti:pmir:2019:patient-feed-response). Nothing is \
cached (reliableCache 0): a message sent again is processed again. Sent: to the \
channel.endpoint of every active Subscription (IHE PMIR ITI-94, see Subscription), an ITI-93 \
message Bundle of the Patients its criteria select, as they are when sent, at least once and \
in order, retried until the endpoint answers 2xx.",
        supported_message: vec![
            SupportedMessage {
                mode: "receiver",
                definition: PMIR_FEED_DEFINITION,
            },
            SupportedMessage {
                mode: "sender",
                definition: PMIR_FEED_DEFINITION,
            },
        ],
    }
}

/// `RelatedPerson`: create, read, update, delete, search by patient, relationship and
/// identifier.
fn related_person_resource() -> RestResource {
    RestResource {
        type_: "RelatedPerson",
        documentation: "A person related to a patient (mother, father, guardian, next of \
kin...): relationship a v3-RoleCode coding (http://terminology.hl7.org/CodeSystem/v3-RoleCode: \
MTH, FTH, PRN, GUARD, NOK, ECON, SPS, SIB, CHILD and the other personal relationships; another \
code is 422), patient a reference Patient/{id} to a live record (a merged-away one resolves to \
its survivor; an unknown one is 422), name (at least one), identifier, telecom, gender, \
birthDate, address, communication (language and preferred, stored and bounded as a Patient's); \
other elements are refused (422). Update (PUT) needs If-Match: \
W/\"{versionId}\" (or meta.versionId); DELETE soft-deletes. Every read, search and write is \
audited.",
        interaction: ["read", "update", "create", "delete", "search-type"]
            .into_iter()
            .map(Interaction::of)
            .collect(),
        versioning: "versioned-update",
        read_history: false,
        update_create: false,
        conditional_create: false,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_include: Vec::new(),
        search_rev_include: Vec::new(),
        search_param: super::related_person::SEARCH_PARAMS
            .iter()
            .map(|(name, type_, documentation)| SearchParam {
                name,
                definition: match *name {
                    "patient" => "http://hl7.org/fhir/SearchParameter/RelatedPerson-patient",
                    "identifier" => "http://hl7.org/fhir/SearchParameter/RelatedPerson-identifier",
                    _ => "http://hl7.org/fhir/SearchParameter/RelatedPerson-relationship",
                },
                type_,
                documentation,
            })
            .collect(),
        operation: Vec::new(),
    }
}

/// `Subscription`: IHE PMIR ITI-94 (steward and admin).
fn subscription_resource() -> RestResource {
    RestResource {
        type_: "Subscription",
        documentation: "IHE PMIR Subscribe to Patient Updates (ITI-94), steward and admin \
keys. Create (POST) with status requested, reason, criteria Patient, Patient?_id=ID, \
Patient?organization=ID or Patient?identifier=[SYSTEM|]VALUE, channel.type message (PMIR) or \
rest-hook, channel.endpoint an http or https URL, channel.payload application/fhir+json and \
at most 10 channel.header (Name: value): 201 with the Subscription, now active, and its \
Location; anything else is 422 and nothing is stored; at most 100 subscriptions. From then on \
every Patient the criteria select that is created, changed, merged or deleted, by any face or \
batch, is sent to the endpoint as an ITI-93 Mobile Patient Identity Feed message (a message \
Bundle, MessageHeader eventUri urn:ihe:iti:pmir:2019:patient-feed, focus a history Bundle of \
the Patients as they are when sent: POST created, PUT changed or merged away, DELETE \
deleted), POSTed with Content-Type application/fhir+json and the channel's headers, at least \
once, retried with back-off until the endpoint answers 2xx; after repeated failures the status \
is error with the reason, and active again after the next success. Update (PUT, no version \
needed) replaces it: status off stops it, requested makes it active again. DELETE removes it \
with its undelivered notifications. Search by status. Every interaction is audited.",
        interaction: ["read", "update", "create", "delete", "search-type"]
            .into_iter()
            .map(Interaction::of)
            .collect(),
        versioning: "no-version",
        read_history: false,
        update_create: false,
        conditional_create: false,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_include: Vec::new(),
        search_rev_include: Vec::new(),
        search_param: vec![SearchParam {
            name: "status",
            definition: "http://hl7.org/fhir/SearchParameter/Subscription-status",
            type_: "token",
            documentation: "requested, active, error or off",
        }],
        operation: Vec::new(),
    }
}

/// `AuditEvent`: search only (auditor and admin).
fn audit_event_resource() -> RestResource {
    let param =
        |name: &'static str, type_: &'static str, documentation: &'static str| SearchParam {
            name,
            definition: match name {
                "date" => "http://hl7.org/fhir/SearchParameter/AuditEvent-date",
                "entity" => "http://hl7.org/fhir/SearchParameter/AuditEvent-entity",
                "agent" => "http://hl7.org/fhir/SearchParameter/AuditEvent-agent",
                _ => "http://hl7.org/fhir/SearchParameter/AuditEvent-action",
            },
            type_,
            documentation,
        };
    RestResource {
        type_: "AuditEvent",
        documentation: "The MPI's hash-chained audit trail (auditor and admin keys), newest \
first, each row an AuditEvent shaped after IHE BALP (type rest, subtype the RESTful \
interaction and the MPI's own action, the key as requesting agent, the record as entity). \
Reading the trail is itself audited. Rows hold ids, never patient data.",
        interaction: vec![Interaction::of("search-type")],
        versioning: "no-version",
        read_history: false,
        update_create: false,
        conditional_create: false,
        conditional_update: false,
        conditional_delete: "not-supported",
        search_include: Vec::new(),
        search_rev_include: Vec::new(),
        search_param: vec![
            param(
                "date",
                "date",
                "[eq|ge|gt|le|lt]YYYY-MM-DD or a dateTime; repeat for a range",
            ),
            param(
                "entity",
                "reference",
                "Patient/{id} (or another entity type/id)",
            ),
            param("agent", "reference", "The key name that acted"),
            param("action", "token", "C, R, U, D or E; comma for any of them"),
        ],
        operation: Vec::new(),
    }
}
