//! The shared conformance suite, run on PostgreSQL (a server the tests
//! start, one fresh schema per test).

chatdesk::conformance_suite!(match chatdesk_postgres::testing::temp_store_or_skip() {
    Some(store) => store,
    None => return,
});
