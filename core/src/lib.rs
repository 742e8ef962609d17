//! chatdesk: an embedded chat-session engine.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod wire;
