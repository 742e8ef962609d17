//! The directory: where the summaries of records chatdesk does not
//! own come from. The host implements [`Directory`]; chatdesk calls it outside
//! the storage transaction. [`MemoryDirectory`] keeps what the host registered.

use crate::ids::UserId;
use crate::wire::{Associate, Contact, Person, Project, Sale, Ticket};
use parking_lot::RwLock;
use std::collections::HashMap;

/// Looks up the summaries a returned carrier shows. Return `None` for an
/// unknown id: the carrier then holds an object with only its id key.
pub trait Directory: Send + Sync + std::fmt::Debug + 'static {
    /// An associate (agent) by id.
    fn associate(&self, id: UserId) -> Option<Associate>;
    /// A person by id.
    fn person(&self, id: i32) -> Option<Person>;
    /// A contact (company) by id.
    fn contact(&self, id: i32) -> Option<Contact>;
    /// A project by id.
    fn project(&self, id: i32) -> Option<Project>;
    /// A sale by id.
    fn sale(&self, id: i32) -> Option<Sale>;
    /// A ticket (request) by id.
    fn ticket(&self, id: i32) -> Option<Ticket>;
}

/// The default directory: keeps the summaries the host registered, by id.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    associates: RwLock<HashMap<i32, Associate>>,
    persons: RwLock<HashMap<i32, Person>>,
    contacts: RwLock<HashMap<i32, Contact>>,
    projects: RwLock<HashMap<i32, Project>>,
    sales: RwLock<HashMap<i32, Sale>>,
    tickets: RwLock<HashMap<i32, Ticket>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) an associate, keyed by its `AssociateId`;
    /// one without an id is ignored.
    pub fn register_associate(&self, a: Associate) {
        if let Some(id) = a.id() {
            self.associates.write().insert(id, a);
        }
    }

    /// Registers a person, keyed by its `PersonId`.
    pub fn register_person(&self, p: Person) {
        if let Some(id) = p.id() {
            self.persons.write().insert(id, p);
        }
    }

    /// Registers a contact, keyed by its `ContactId`.
    pub fn register_contact(&self, c: Contact) {
        if let Some(id) = c.id() {
            self.contacts.write().insert(id, c);
        }
    }

    /// Registers a project, keyed by its `ProjectId`.
    pub fn register_project(&self, p: Project) {
        if let Some(id) = p.id() {
            self.projects.write().insert(id, p);
        }
    }

    /// Registers a sale, keyed by its `SaleId`.
    pub fn register_sale(&self, s: Sale) {
        if let Some(id) = s.id() {
            self.sales.write().insert(id, s);
        }
    }

    /// Registers a ticket, keyed by its `TicketId`.
    pub fn register_ticket(&self, t: Ticket) {
        if let Some(id) = t.id() {
            self.tickets.write().insert(id, t);
        }
    }
}

impl Directory for MemoryDirectory {
    fn associate(&self, id: UserId) -> Option<Associate> {
        self.associates.read().get(&id.0).cloned()
    }
    fn person(&self, id: i32) -> Option<Person> {
        self.persons.read().get(&id).cloned()
    }
    fn contact(&self, id: i32) -> Option<Contact> {
        self.contacts.read().get(&id).cloned()
    }
    fn project(&self, id: i32) -> Option<Project> {
        self.projects.read().get(&id).cloned()
    }
    fn sale(&self, id: i32) -> Option<Sale> {
        self.sales.read().get(&id).cloned()
    }
    fn ticket(&self, id: i32) -> Option<Ticket> {
        self.tickets.read().get(&id).cloned()
    }
}
