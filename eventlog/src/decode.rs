//! The one decoder of an `events` row, shared by every read of the log.
//!
//! The payload and the metadata are selected as JSON text (`::text`) and
//! parsed straight into their types: a payload of the current schema version
//! goes into its event type without a `serde_json::Value` in between (see
//! [`DomainEvent::decode_json`]; about twice as fast), older versions are
//! upcast. Columns are read by index, in the order of [`Columns::select`].

use crate::StoreError;
use domain::{DomainEvent, EventId, EventMetadata, StoredEvent, StreamId, StreamType};
use sqlx::postgres::PgRow;
use sqlx::Row;

/// Which columns a read selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Columns {
    /// Every column, for readers that pass events on (the relay publishes
    /// the metadata) or hand them to a command.
    Full,
    /// Everything but `metadata`, which no projection uses (who did what is
    /// in the payloads): the bulk reads of rebuilds skip its transfer and
    /// parsing. The events carry default metadata.
    WithoutMetadata,
}

impl Columns {
    /// The select list; [`decode`] reads the columns in this order.
    pub(crate) fn select(self) -> &'static str {
        match self {
            Self::Full => {
                "position, event_id, stream_id, stream_type, version, event_type, \
                 schema_version, payload::text, recorded_at, metadata::text"
            }
            Self::WithoutMetadata => {
                "position, event_id, stream_id, stream_type, version, event_type, \
                 schema_version, payload::text, recorded_at"
            }
        }
    }
}

/// Turn one row selected with `columns` into a [`StoredEvent`], upcasting
/// older payload versions.
pub(crate) fn decode(row: &PgRow, columns: Columns) -> Result<StoredEvent, StoreError> {
    let position: i64 = row.try_get(0)?;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let stream_type: &str = row.try_get(3)?;
    let stream_type = StreamType::parse(stream_type)
        .ok_or_else(|| corrupt(format!("unknown stream type {stream_type}")))?;
    let schema_version: i16 = row.try_get(6)?;
    let schema_version = u16::try_from(schema_version)
        .map_err(|_| corrupt(format!("negative schema version {schema_version}")))?;
    let event_type: &str = row.try_get(5)?;
    let payload: &str = row.try_get(7)?;
    let event = DomainEvent::decode_json(event_type, schema_version, payload)
        .map_err(|source| StoreError::Decode { position, source })?;
    let metadata = match columns {
        Columns::Full => {
            let metadata: &str = row.try_get(9)?;
            serde_json::from_str::<EventMetadata>(metadata)
                .map_err(|e| corrupt(format!("bad metadata: {e}")))?
        }
        Columns::WithoutMetadata => EventMetadata::default(),
    };
    Ok(StoredEvent {
        position,
        event_id: EventId(row.try_get(1)?),
        stream_id: StreamId(row.try_get(2)?),
        stream_type,
        version: row.try_get(4)?,
        metadata,
        recorded_at: row.try_get(8)?,
        event,
    })
}
