//! Wire types of the d-back protocol: client frames in, server frames out.
//!
//! Every frame the server sends is encoded exactly as Python's `json.dumps` would
//! encode it by default, so existing clients and tests see identical bytes.

pub mod client;
pub mod errors;
pub mod frames;
pub mod pyjson;
mod python_json;
pub mod servers;

#[cfg(test)]
mod fuzz;
