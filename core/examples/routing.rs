//! A short day at a routed desk, on the in-memory backend with a manual
//! clock: customers arrive, agents come and go, capacity fills up, an
//! unanswered chat moves on to another agent, a transfer times out, and an
//! explanation says why a waiting customer is not routed.
//!
//! Run it with `cargo run --example routing`.

use chatdesk::{
    Associate, Caller, ChatAgentCapacity, ChatDesk, ChatMessage, ChatPresence, ChatSessionEntity,
    ChatTopicAgent, ChatTopicRouting, ManualClock, MemoryDirectory, MemoryStorage, RoutingChange,
    RoutingMode, RoutingStrategy, RoutingVerdict, SessionId, TopicId, UserId,
};
use std::collections::HashMap;
use std::sync::Arc;

/// The desk, its clock, and the names of people for printing.
struct Day {
    desk: ChatDesk<MemoryStorage>,
    clock: ManualClock,
    agents: HashMap<UserId, &'static str>,
    customers: HashMap<SessionId, (String, String)>,
}

impl Day {
    fn at(&self) -> String {
        self.desk
            .now()
            .to_datetime()
            .map_or_else(|| "--:--".to_string(), |t| t.format("%H:%M").to_string())
    }

    fn say(&self, what: &str) {
        println!("{}  {what}", self.at());
    }

    fn agent(&self, u: UserId) -> &'static str {
        self.agents.get(&u).copied().unwrap_or("an agent")
    }

    fn customer(&self, s: SessionId) -> String {
        self.customers
            .get(&s)
            .map_or_else(|| format!("session {s}"), |(name, _)| name.clone())
    }

    fn wait_minutes(&self, minutes: i64) {
        self.clock.advance_secs(minutes * 60);
    }

    /// A customer asks for a chat; routing may assign it at once.
    fn arrive(&mut self, topic: TopicId, name: &str) -> chatdesk::Result<SessionId> {
        let request = ChatSessionEntity {
            customer_name: name.into(),
            ..Default::default()
        };
        let s = self
            .desk
            .create_chat_session_for_topic(&Caller::anonymous(), topic, &request)?;
        self.customers
            .insert(s.id(), (name.to_string(), s.session_key.clone()));
        match s.user_id() {
            Some(u) => self.say(&format!(
                "{name} asks for a chat: routed at once to {} (rank {})",
                self.agent(u),
                s.rank
            )),
            None => {
                let pos = self
                    .desk
                    .get_queue_position(&Caller::customer(s.session_key.clone()), s.id())?;
                let pos = pos.map_or_else(|| "not queued".to_string(), |p| format!("#{p}"));
                self.say(&format!(
                    "{name} asks for a chat: waits in the queue, {pos}"
                ));
            }
        }
        Ok(s.id())
    }

    fn presence(&self, u: UserId, present: bool) -> chatdesk::Result<()> {
        let p = ChatPresence::new(u, present, self.agent(u));
        let saved = self.desk.save_chat_presence(&Caller::agent(u), &p)?;
        let what = if present {
            "comes in"
        } else {
            "goes on a break"
        };
        self.say(&format!(
            "{} {what}: {} chat(s) going on",
            self.agent(u),
            saved.ongoing_chats
        ));
        self.report_assignments()?;
        Ok(())
    }

    /// Prints what each agent holds now.
    fn report_assignments(&self) -> chatdesk::Result<()> {
        let host = Caller::system();
        let mut by_agent: Vec<(UserId, Vec<String>)> = Vec::new();
        for s in self.desk.chat_sessions_for_user(&host)? {
            if let Some(u) = s.user_id() {
                match by_agent.iter_mut().find(|(a, _)| *a == u) {
                    Some((_, list)) => list.push(self.customer(s.id())),
                    None => by_agent.push((u, vec![self.customer(s.id())])),
                }
            }
        }
        by_agent.sort_by_key(|(u, _)| *u);
        for (u, list) in by_agent {
            println!("          {} has: {}", self.agent(u), list.join(", "));
        }
        Ok(())
    }

    fn write(&self, agent: UserId, session: SessionId, text: &str) -> chatdesk::Result<()> {
        let m = ChatMessage {
            message: text.into(),
            ..Default::default()
        };
        self.desk
            .add_chat_message(&Caller::agent(agent), session, &m)
            .map(|_| ())
    }

    fn close(&self, session: SessionId) -> chatdesk::Result<()> {
        let key = self
            .customers
            .get(&session)
            .map(|(_, key)| key.clone())
            .unwrap_or_default();
        self.desk
            .close_chat_session(&Caller::customer(key), session)?;
        self.say(&format!("{} closes the chat", self.customer(session)));
        Ok(())
    }

    /// Prints why a session is (not) routed, agent by agent.
    fn explain(&self, session: SessionId) -> chatdesk::Result<()> {
        let why = self.desk.explain_routing(&Caller::system(), session)?;
        let position = why.queue_position.map_or_else(
            || "not queued".to_string(),
            |p| format!("#{p} in the queue"),
        );
        self.say(&format!(
            "why is {} not with an agent ({position})?",
            self.customer(session)
        ));
        for v in &why.agents {
            let reason = match v.verdict {
                RoutingVerdict::NotPresent => "not present".to_string(),
                RoutingVerdict::Excluded => "let this chat time out before".to_string(),
                RoutingVerdict::AtCapacity { load, capacity } => {
                    format!("at capacity ({load} of {capacity})")
                }
                RoutingVerdict::Eligible { load, capacity } => {
                    format!("could take it ({load} of {capacity})")
                }
            };
            println!("          {}: {reason}", self.agent(v.user));
        }
        Ok(())
    }

    fn sweep(&self) -> chatdesk::Result<()> {
        for change in self.desk.routing_sweep(&Caller::system())? {
            let line = match change {
                RoutingChange::AnswerTimeout { session, user } => format!(
                    "routing sweep: {} did not answer {} in time; back to the queue in the same place",
                    self.agent(user),
                    self.customer(session)
                ),
                RoutingChange::TransferTimeout { session, to } => format!(
                    "routing sweep: {} did not take the transfer of {} in time; it stays where it was",
                    self.agent(to),
                    self.customer(session)
                ),
                RoutingChange::Assigned { session, user } => format!(
                    "routing sweep: {} goes to {}",
                    self.customer(session),
                    self.agent(user)
                ),
            };
            self.say(&line);
        }
        Ok(())
    }
}

fn main() -> chatdesk::Result<()> {
    let anna = UserId(7);
    let bo = UserId(8);
    let cy = UserId(9);
    let directory = Arc::new(MemoryDirectory::new());
    for (u, name) in [(anna, "Anna"), (bo, "Bo"), (cy, "Cy")] {
        directory.register_associate(Associate::new(u, name));
    }
    let clock = ManualClock::at_default();
    let desk = ChatDesk::new(MemoryStorage::new())
        .with_clock(clock.clone())
        .with_directory(directory);
    let mut day = Day {
        desk,
        clock,
        agents: HashMap::from([(anna, "Anna"), (bo, "Bo"), (cy, "Cy")]),
        customers: HashMap::new(),
    };
    let host = Caller::system();

    // Morning: one topic, routed automatically to the least busy agent,
    // two chats per agent, a minute to answer, two minutes to take a transfer.
    let mut topic = day.desk.create_default_chat_topic_entity(&host);
    topic.name = "Support".into();
    topic.welcome_message = "Hi! You are talking to a person.".into();
    let topic = day.desk.save_chat_topic_entity(&host, &topic)?.id();
    for u in [anna, bo, cy] {
        day.desk.add_chat_topic_user_agent(
            &host,
            &ChatTopicAgent {
                can_respond: true,
                ..ChatTopicAgent::new(topic, u)
            },
        )?;
    }
    day.desk.save_chat_topic_routing(
        &host,
        &ChatTopicRouting {
            mode: RoutingMode::Auto,
            strategy: RoutingStrategy::LeastBusy,
            default_capacity: 2,
            answer_timeout_seconds: 60,
            transfer_timeout_seconds: 120,
            ..ChatTopicRouting::defaults_for(topic)
        },
    )?;
    day.say("the Support topic routes chats: least busy agent first, 2 chats each, 60 s to answer, 120 s to take a transfer");
    // Cy is new: one chat at a time.
    day.desk.save_chat_agent_capacity(
        &host,
        &ChatAgentCapacity {
            user_id: cy.0,
            max_chats: Some(1),
        },
    )?;
    day.say("Cy is new today: at most 1 chat at a time");

    day.presence(anna, true)?;
    day.presence(bo, true)?;

    let dana = day.arrive(topic, "Dana")?;
    day.wait_minutes(1);
    let erik = day.arrive(topic, "Erik")?;
    day.arrive(topic, "Fay")?;
    day.arrive(topic, "Gus")?;
    day.arrive(topic, "Hana")?;
    day.report_assignments()?;

    // Why is Hana still waiting?
    let hana = SessionId(5);
    day.explain(hana)?;

    // Cy arrives and gets the longest-waiting chat at once.
    day.wait_minutes(1);
    day.presence(cy, true)?;

    // Everyone answers their customers, except Bo, who forgets Erik.
    for (agent, session) in [
        (anna, dana),
        (anna, SessionId(3)),
        (bo, SessionId(4)),
        (cy, hana),
    ] {
        day.write(agent, session, "Hello, how can I help?")?;
    }
    day.say("Anna answers Dana and Fay, Bo answers Gus, Cy answers Hana; nobody answers Erik");
    day.wait_minutes(1);
    day.sweep()?;
    day.explain(erik)?;

    // Dana is done: closing frees a place, and Erik moves in at once.
    day.close(dana)?;
    day.report_assignments()?;
    day.write(anna, erik, "Sorry for the wait, Erik!")?;
    day.say("Anna answers Erik");

    // Anna asks Bo to take over Fay's chat; Bo never answers the request.
    let fay = SessionId(3);
    day.desk
        .transfer_chat_session(&Caller::agent(anna), fay, bo)?;
    day.say("Anna asks Bo to take over Fay's chat");
    day.wait_minutes(2);
    day.sweep()?;

    // Evening: Bo leaves; his chats stay his, but he gets no new ones.
    day.presence(bo, false)?;
    let ivo = day.arrive(topic, "Ivo")?;
    day.explain(ivo)?;
    day.say("end of the day");
    Ok(())
}
