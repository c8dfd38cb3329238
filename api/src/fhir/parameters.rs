//! The Parameters resource of `$match` and `$merge`: read strictly on the way in, written with
//! typed resources on the way out.

use serde::{Deserialize, Serialize};

use super::operation_outcome::OperationOutcome;
use super::patient::{FhirPatient, Identifier, Reference};
use crate::error::ApiError;

/// One incoming parameter (the value types the operations use).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ParameterIn {
    /// The parameter's name.
    pub name: String,
    /// A boolean value.
    pub value_boolean: Option<bool>,
    /// An integer value.
    pub value_integer: Option<i64>,
    /// A reference value.
    pub value_reference: Option<Reference>,
    /// An identifier value (`$ihe-pix`'s `sourceIdentifier`).
    pub value_identifier: Option<Identifier>,
    /// A URI value (`$ihe-pix`'s `targetSystem`).
    pub value_uri: Option<String>,
    /// A resource value (parsed by the operation).
    pub resource: Option<serde_json::Value>,
}

/// An incoming Parameters resource.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ParametersIn {
    /// Must be `Parameters`.
    pub resource_type: String,
    /// Ignored.
    pub id: Option<String>,
    /// Ignored.
    pub meta: Option<serde_json::Value>,
    /// The parameters.
    pub parameter: Vec<ParameterIn>,
}

fn invalid(name: &str, message: &str) -> ApiError {
    ApiError::InvalidValue {
        message: format!("{name}: {message}"),
        field: Some(name.to_owned()),
    }
}

impl ParametersIn {
    /// Checks the resource type and that every parameter is one of `known`, given at most once.
    pub fn check(&self, known: &[&str]) -> Result<(), ApiError> {
        if self.resource_type != "Parameters" {
            return Err(invalid("resourceType", "must be Parameters"));
        }
        for (i, p) in self.parameter.iter().enumerate() {
            if !known.contains(&p.name.as_str()) {
                return Err(invalid(
                    &p.name,
                    &format!("is not supported (supported: {})", known.join(", ")),
                ));
            }
            if self.parameter[..i].iter().any(|q| q.name == p.name) {
                return Err(invalid(&p.name, "is given more than once"));
            }
        }
        Ok(())
    }

    /// The parameter named `name`, if given.
    pub fn get(&self, name: &str) -> Option<&ParameterIn> {
        self.parameter.iter().find(|p| p.name == name)
    }

    /// A boolean parameter (absent: `None`).
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|p| {
                p.value_boolean
                    .ok_or_else(|| invalid(name, "must be a valueBoolean"))
            })
            .transpose()
    }

    /// An integer parameter (absent: `None`).
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|p| {
                p.value_integer
                    .ok_or_else(|| invalid(name, "must be a valueInteger"))
            })
            .transpose()
    }

    /// A reference parameter (absent: `None`).
    pub fn reference(&self, name: &str) -> Result<Option<&Reference>, ApiError> {
        self.get(name)
            .map(|p| {
                p.value_reference
                    .as_ref()
                    .ok_or_else(|| invalid(name, "must be a valueReference"))
            })
            .transpose()
    }

    /// A Patient resource parameter (absent: `None`; 422 when it is not a valid Patient).
    pub fn patient(&self, name: &str) -> Result<Option<FhirPatient>, ApiError> {
        let Some(p) = self.get(name) else {
            return Ok(None);
        };
        let resource = p
            .resource
            .as_ref()
            .ok_or_else(|| invalid(name, "must carry a resource"))?;
        serde_json::from_value(resource.clone())
            .map(Some)
            .map_err(|e| invalid(name, &format!("is not a Patient the MPI can read: {e}")))
    }
}

/// A resource in an outgoing parameter.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum ResourceOut {
    /// A patient.
    Patient(Box<FhirPatient>),
    /// An outcome.
    Outcome(OperationOutcome),
}

/// One outgoing parameter.
#[derive(Clone, Debug, Serialize)]
pub struct ParameterOut {
    /// The parameter's name.
    pub name: &'static str,
    /// Its resource.
    pub resource: ResourceOut,
}

/// An outgoing Parameters resource.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParametersOut {
    /// Always `Parameters`.
    pub resource_type: &'static str,
    /// The parameters.
    pub parameter: Vec<ParameterOut>,
}
