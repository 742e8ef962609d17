//! The shared conformance suite, run on SQLite (a real file in a temp dir).

chatdesk::conformance_suite!(chatdesk_sqlite::testing::temp_store());
