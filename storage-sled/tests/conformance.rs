//! The shared conformance suite, run against sled.

chatdesk::conformance_suite!(chatdesk_sled::testing::temp_store());
