//! One import for the services: every entity under its table's name, the code enums, and the
//! helper types.

pub use crate::api_key::Entity as ApiKey;
pub use crate::audit_event::Entity as AuditEvent;
pub use crate::change_log::Entity as ChangeLog;
pub use crate::match_score::Entity as MatchScore;
pub use crate::merge_event::Entity as MergeEvent;
pub use crate::organization::Entity as Organization;
pub use crate::organization_address::Entity as OrganizationAddress;
pub use crate::organization_identifier::Entity as OrganizationIdentifier;
pub use crate::organization_telecom::Entity as OrganizationTelecom;
pub use crate::patient::Entity as Patient;
pub use crate::patient_address::Entity as PatientAddress;
pub use crate::patient_communication::Entity as PatientCommunication;
pub use crate::patient_identifier::Entity as PatientIdentifier;
pub use crate::patient_link::Entity as PatientLink;
pub use crate::patient_name::Entity as PatientName;
pub use crate::patient_telecom::Entity as PatientTelecom;
pub use crate::related_person::Entity as RelatedPerson;
pub use crate::review_task::Entity as ReviewTask;

pub use crate::enums::*;
pub use crate::json_list::StringList;
pub use crate::pair::ordered_pair;
pub use crate::patient_ext::PatientRecord;
