//! A `tracing` subscriber that keeps every span and event it is shown, for
//! tests that check what the service reports (and what it never reports).
//! Install it on the test's thread with [`Capture::run`].

use parking_lot::Mutex;
use std::fmt::Write;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One span as created, with the fields recorded on it later.
#[derive(Debug, Clone)]
pub struct SpanSeen {
    pub name: &'static str,
    pub target: String,
    pub fields: Vec<(String, String)>,
}

/// One event, with the span it was inside (an index into
/// [`Captured::spans`]).
#[derive(Debug, Clone)]
pub struct EventSeen {
    pub level: tracing::Level,
    pub target: String,
    pub fields: Vec<(String, String)>,
    pub span: Option<usize>,
}

/// Everything captured, in order.
#[derive(Debug, Default, Clone)]
pub struct Captured {
    pub spans: Vec<SpanSeen>,
    pub events: Vec<EventSeen>,
    stack: Vec<usize>,
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl SpanSeen {
    /// A field's value as text (strings without quotes).
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

impl EventSeen {
    /// A field's value as text (strings without quotes).
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

impl Captured {
    /// The operation spans (name `operation`) whose `op` is `op`.
    pub fn ops(&self, op: &str) -> Vec<&SpanSeen> {
        self.spans
            .iter()
            .filter(|s| s.name == "operation" && s.field("op") == Some(op))
            .collect()
    }

    /// Every field value of every span and event, with the field's name.
    pub fn all_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans
            .iter()
            .flat_map(|s| s.fields.iter())
            .chain(self.events.iter().flat_map(|e| e.fields.iter()))
            .map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The span an event was inside.
    pub fn span_of(&self, e: &EventSeen) -> Option<&SpanSeen> {
        e.span.and_then(|i| self.spans.get(i))
    }
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, f: &Field, value: &str) {
        self.0.push((f.name().to_string(), value.to_string()));
    }
    fn record_debug(&mut self, f: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.push((f.name().to_string(), s));
    }
}

/// The capturing subscriber; clones share what they captured.
#[derive(Debug, Clone, Default)]
pub struct Capture(Arc<Mutex<Captured>>);

impl Capture {
    /// Runs `f` with a fresh capture installed on this thread; returns its
    /// value and what was captured.
    pub fn run<R>(f: impl FnOnce() -> R) -> (R, Captured) {
        let capture = Capture::default();
        let r = tracing::subscriber::with_default(capture.clone(), || {
            // tracing caches per call site whether anyone listens. A call site
            // first reached on another test's thread while this capture was
            // the only subscriber alive was asked of that thread's (empty)
            // default and cached as "never"; rebuilding from this thread
            // gives every call site reached so far the right answer.
            tracing::callsite::rebuild_interest_cache();
            f()
        });
        let seen = capture.0.lock().clone();
        (r, seen)
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        let mut c = self.0.lock();
        c.spans.push(SpanSeen {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_string(),
            fields,
        });
        Id::from_u64(c.spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut c = self.0.lock();
        let Some(index) = usize::try_from(span.into_u64())
            .ok()
            .and_then(|i| i.checked_sub(1))
        else {
            return;
        };
        if let Some(s) = c.spans.get_mut(index) {
            values.record(&mut Fields(&mut s.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let mut c = self.0.lock();
        let span = c.stack.last().copied();
        c.events.push(EventSeen {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields,
            span,
        });
    }

    fn enter(&self, span: &Id) {
        if let Some(i) = usize::try_from(span.into_u64())
            .ok()
            .and_then(|i| i.checked_sub(1))
        {
            self.0.lock().stack.push(i);
        }
    }

    fn exit(&self, _: &Id) {
        self.0.lock().stack.pop();
    }
}
