//! A damaged session row (one that no longer decodes, written by a plain
//! client below chatdesk) does not stop the desk: the shared test in
//! `chatdesk::testkit::damaged`.

#[test]
fn a_damaged_session_does_not_stop_the_desk() {
    let Some(store) = chatdesk_postgres::testing::temp_store_or_skip() else {
        return;
    };
    chatdesk::testkit::damaged::a_damaged_session_does_not_stop_the_desk(store, |s, id| {
        s.damage_session(id).unwrap();
        s
    });
}
