//! Shared fixtures for the chatdesk benchmarks.
