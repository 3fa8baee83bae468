//! Broadcast frames encoded natively when every value is a plain `str`, which is
//! what bots pass. Anything else (numbers, `None`, `str` subclasses, lone
//! surrogates) is left to the Python side's `json.dumps`, whose output is the
//! contract; for plain strings both give the same bytes.

use super::utf8::utf8;
use crate::protocol::frames::{self, Presence};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};
use std::borrow::Cow;

/// A frame ready for the fan-out, and the server key it goes to.
pub struct Encoded<'a> {
    pub server: Cow<'a, str>,
    pub frame: String,
}

/// The text of an exact `str` (`None` for anything else, and for lone
/// surrogates, which have no UTF-8 form).
fn plain_str<'a>(value: &'a Bound<'_, PyAny>) -> Option<Cow<'a, str>> {
    utf8(value.cast_exact::<PyString>().ok()?).map(Cow::Borrowed)
}

/// A plain `str` if truthy, `None` if falsy (`None` or `""`); `Err` when
/// the value needs Python.
fn optional_str<'a>(value: Option<&'a Bound<'_, PyAny>>) -> Result<Option<Cow<'a, str>>, ()> {
    match value {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) => plain_str(value)
            .map(|text| (!text.is_empty()).then_some(text))
            .ok_or(()),
    }
}

/// `broadcast_message(server, uid, message, channel)`.
pub fn message<'a>(
    server: &'a Bound<'_, PyAny>,
    uid: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    channel: &Bound<'_, PyAny>,
) -> Option<Encoded<'a>> {
    let server = plain_str(server)?;
    let (uid, message, channel) = (plain_str(uid)?, plain_str(message)?, plain_str(channel)?);
    let frame = frames::message(&server, &uid, &message, &channel);
    Some(Encoded { server, frame })
}

/// `broadcast_presence(server, uid, status, username, role_color, delete)`:
/// `username` and `roleColor` only when truthy, `"delete": true` only when set.
pub fn presence<'a>(
    server: &'a Bound<'_, PyAny>,
    uid: &Bound<'_, PyAny>,
    status: &Bound<'_, PyAny>,
    username: Option<&Bound<'_, PyAny>>,
    role_color: Option<&Bound<'_, PyAny>>,
    delete: Option<&Bound<'_, PyAny>>,
) -> Option<Encoded<'a>> {
    let server = plain_str(server)?;
    let delete = match delete {
        None => false,
        Some(flag) => flag.cast_exact::<PyBool>().ok()?.is_true(),
    };
    let (uid, status) = (plain_str(uid)?, plain_str(status)?);
    let username = optional_str(username).ok()?;
    let role_color = optional_str(role_color).ok()?;
    let frame = frames::presence_change(&Presence {
        server: &server,
        uid: &uid,
        status: &status,
        username: username.as_deref(),
        role_color: role_color.as_deref(),
        delete,
    });
    Some(Encoded { server, frame })
}

/// `broadcast_client_id_update(server, client_id)`.
pub fn client_id_update<'a>(
    server: &'a Bound<'_, PyAny>,
    client_id: &Bound<'_, PyAny>,
) -> Option<Encoded<'a>> {
    let server = plain_str(server)?;
    let frame = frames::client_id_update(&server, &plain_str(client_id)?);
    Some(Encoded { server, frame })
}
