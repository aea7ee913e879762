//! Personal fields in the `redis` read model (issue 18, crypto-shredding).
//!
//! Events carry usernames, display names and status messages sealed under
//! the user's data key; the batch opens them with the keys read for it
//! ([`sealed_users`], `RedisProjection::with_pii`). A field that does not
//! open belongs to a deleted user (their key is gone): the profile is the
//! deleted one ([`ProfileView::deleted`]), with no username key and no
//! search terms. `user.account_deleted` leaves exactly that state, so a
//! projection built live (which showed the user until the deletion) and
//! one rebuilt after it (which never could) hold the same data.

use super::overlay::Overlay;
use domain::event::{
    AccountDeleted, DisplayNameChanged, DomainEvent, StatusMessageChanged, StoredEvent, UserEvent,
    UserRegistered,
};
use domain::pii::{Field, Personal};
use domain::views::ProfileView;
use domain::UserId;
use eventlog::pii::open;
use tracing::warn;

/// The users whose sealed fields `events` carry: the keys a batch reads.
pub(super) fn sealed_users(events: &[&StoredEvent]) -> Vec<UserId> {
    let sealed = |p: &Personal| matches!(p, Personal::Sealed { .. });
    let mut users: Vec<UserId> = events
        .iter()
        .filter_map(|e| match &e.event {
            DomainEvent::User(UserEvent::Registered(r))
                if sealed(&r.username) || sealed(&r.display_name) =>
            {
                Some(r.user_id)
            }
            DomainEvent::User(UserEvent::DisplayNameChanged(c)) if sealed(&c.display_name) => {
                Some(c.user_id)
            }
            DomainEvent::User(UserEvent::StatusMessageChanged(c)) if sealed(&c.status_message) => {
                Some(c.user_id)
            }
            _ => None,
        })
        .collect();
    users.sort_unstable();
    users.dedup();
    users
}

impl Overlay {
    fn open(&self, user: UserId, field: Field, value: &Personal) -> Option<String> {
        open(self.pii_keys.get(&user), field, value)
    }

    pub(super) fn registered(&mut self, r: &UserRegistered) {
        let username = self.open(r.user_id, Field::Username, &r.username);
        let display_name = self.open(r.user_id, Field::DisplayName, &r.display_name);
        let (Some(username), Some(display_name)) = (username, display_name) else {
            // Deleted since: nothing personal to show.
            self.profiles
                .insert(r.user_id, Some(ProfileView::deleted(r.user_id, r.at)));
            self.dirty_profiles.insert(r.user_id);
            return;
        };
        let terms = readmodel::people::search_terms(&username, &display_name);
        self.search_terms(r.user_id, Vec::new(), terms);
        self.usernames.insert(username.clone(), Some(r.user_id));
        let p = ProfileView {
            user_id: r.user_id,
            username,
            display_name,
            created_at: r.at,
            status_message: String::new(),
            show_presence: true,
            deleted_user: false,
        };
        self.profiles.insert(r.user_id, Some(p));
        self.dirty_profiles.insert(r.user_id);
    }

    pub(super) fn display_name_changed(&mut self, c: &DisplayNameChanged, position: i64) {
        let Some(name) = self.open(c.user_id, Field::DisplayName, &c.display_name) else {
            return;
        };
        let Some(Some(p)) = self.profiles.get_mut(&c.user_id) else {
            warn!(user_id = %c.user_id, position, "display name change for unknown user");
            return;
        };
        if p.deleted_user {
            return;
        }
        let before = readmodel::people::search_terms(&p.username, &p.display_name);
        p.display_name = name;
        let after = readmodel::people::search_terms(&p.username, &p.display_name);
        self.dirty_profiles.insert(c.user_id);
        self.search_terms(c.user_id, before, after);
    }

    pub(super) fn status_message_changed(&mut self, c: &StatusMessageChanged, position: i64) {
        let Some(text) = self.open(c.user_id, Field::StatusMessage, &c.status_message) else {
            return;
        };
        let Some(Some(p)) = self.profiles.get_mut(&c.user_id) else {
            warn!(user_id = %c.user_id, position, "status message change for unknown user");
            return;
        };
        if !p.deleted_user {
            p.status_message = text;
            self.dirty_profiles.insert(c.user_id);
        }
    }

    /// Drop everything personal the model shows of the user: the profile
    /// becomes the deleted one, the username key and search terms go.
    pub(super) fn account_deleted(&mut self, d: &AccountDeleted) {
        let shown = match self.profiles.get(&d.user_id) {
            Some(Some(p)) => Some((p.created_at, (!p.deleted_user).then(|| p.clone()))),
            _ => None,
        };
        let created_at = shown.as_ref().map_or(d.at, |(at, _)| *at);
        if let Some((_, Some(p))) = shown {
            let before = readmodel::people::search_terms(&p.username, &p.display_name);
            self.search_terms(d.user_id, before, Vec::new());
            // Unless someone else claimed the name in this batch.
            let owner = self.usernames.get(&p.username).copied().flatten();
            if owner.is_none_or(|u| u == d.user_id) {
                self.usernames.insert(p.username, None);
            }
        }
        self.profiles
            .insert(d.user_id, Some(ProfileView::deleted(d.user_id, created_at)));
        self.dirty_profiles.insert(d.user_id);
        self.deleted_users.insert(d.user_id);
    }
}
