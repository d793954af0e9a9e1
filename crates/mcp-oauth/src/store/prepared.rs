//! What a store prepared for a save, whatever that is.

use std::{any::Any, fmt};

/// What [`TokenStorage::prepare_save`](super::TokenStorage::prepare_save)
/// made ready, handed back to
/// [`TokenStorage::save_prepared`](super::TokenStorage::save_prepared).
///
/// It holds whatever the store needs: a temporary file with its space
/// taken, a reserved slot, an open transaction. Dropping it unused gives it
/// back (by the held value's own `Drop`).
///
/// ```
/// use mcp_oauth::PreparedSave;
///
/// struct Slot(u32);
/// let prepared = PreparedSave::holding(Slot(7));
/// // The store that made it takes its own kind back out...
/// assert_eq!(prepared.into_held::<Slot>().map(|slot| slot.0), Some(7));
/// // ...and anything else is not its own.
/// assert!(PreparedSave::none().into_held::<Slot>().is_none());
/// ```
pub struct PreparedSave {
    held: Option<Box<dyn Any + Send + Sync>>,
}

impl PreparedSave {
    /// Nothing prepared: the save will do all the work.
    ///
    /// ```
    /// let prepared = mcp_oauth::PreparedSave::none();
    /// assert!(prepared.into_held::<u32>().is_none());
    /// ```
    pub fn none() -> Self {
        Self { held: None }
    }

    /// Holds `prepared` until the save takes it back, or until dropped.
    ///
    /// ```
    /// let prepared = mcp_oauth::PreparedSave::holding(7_u32);
    /// assert_eq!(prepared.into_held::<u32>(), Some(7));
    /// ```
    pub fn holding(prepared: impl Any + Send + Sync) -> Self {
        Self {
            held: Some(Box::new(prepared)),
        }
    }

    /// What is held, if it is a `T`; otherwise `None` (and what was held is
    /// dropped).
    ///
    /// ```
    /// let prepared = mcp_oauth::PreparedSave::holding("a temporary file");
    /// assert!(prepared.into_held::<u32>().is_none());
    /// ```
    pub fn into_held<T: Any>(self) -> Option<T> {
        self.held?.downcast::<T>().ok().map(|held| *held)
    }
}

impl fmt::Debug for PreparedSave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.held.is_some() {
            "PreparedSave(held)"
        } else {
            "PreparedSave(none)"
        })
    }
}
