//! The exact error strings users see (the d-zone page shows them in an alert).

pub const INVALID_BINARY_ENCODING: &str = "Invalid binary encoding";
pub const INVALID_JSON: &str = "Invalid JSON";
pub const UNKNOWN_EVENT_TYPE: &str = "Unknown event type";
pub const CANNOT_CONNECT: &str = "Sorry, couldn't connect to that Discord server.";
pub const AUTH_FAILED: &str = "Discord authentication failed. Please try logging in again.";
pub const AUTH_REQUIRED: &str =
    "This server requires Discord authentication. Please login with Discord.";
