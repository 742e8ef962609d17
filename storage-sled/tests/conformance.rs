//! The shared conformance suite (STYLE §3), run against sled.

chatdesk::conformance_suite!(chatdesk_sled::testing::temp_store());
