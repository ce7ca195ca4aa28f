//! What an apply did, per item, and how it is printed. Holds names, ARNs and the names of
//! changed fields: never a secret value or key material.

use std::io::Write;

use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Updated,
    Unchanged,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Unchanged => "unchanged",
        }
    }
}

pub struct Entry {
    /// `users`, `roles`, `keys` or `secrets`.
    pub section: &'static str,
    pub logical: String,
    pub status: Status,
    /// What changed on an update.
    pub changes: Vec<String>,
    pub arn: String,
    /// Other results worth printing (a key's id and aliases).
    pub extra: Vec<(&'static str, serde_json::Value)>,
}

pub struct Report {
    entries: Vec<Entry>,
    /// Nothing was written: the statuses say what would be done.
    dry_run: bool,
}

impl Report {
    pub fn new(dry_run: bool) -> Self {
        Self {
            entries: Vec::new(),
            dry_run,
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// The status an item was recorded with.
    pub fn status_of(&self, section: &str, logical: &str) -> Option<Status> {
        self.entries
            .iter()
            .find(|e| e.section == section && e.logical == logical)
            .map(|e| e.status)
    }

    /// Records an item; returns its index, for [`Report::changed_later`].
    pub fn add(&mut self, entry: Entry) -> usize {
        self.entries.push(entry);
        self.entries.len() - 1
    }

    /// Adds changes made to an item after it was recorded (its inline policies).
    pub fn changed_later(&mut self, section: &str, logical: &str, change: String) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| e.section == section && e.logical == logical)
        {
            if entry.status == Status::Unchanged {
                entry.status = Status::Updated;
            }
            if entry.status == Status::Updated {
                entry.changes.push(change);
            }
        }
    }

    pub fn changed(&self) -> bool {
        self.entries.iter().any(|e| e.status != Status::Unchanged)
    }

    fn summary(&self) -> String {
        if !self.changed() {
            return "no changes".to_owned();
        }
        let count = |s| self.entries.iter().filter(|e| e.status == s).count();
        if self.dry_run {
            return format!(
                "dry run: {} to create, {} to update, {} unchanged; nothing was changed",
                count(Status::Created),
                count(Status::Updated),
                count(Status::Unchanged)
            );
        }
        format!(
            "{} created, {} updated, {} unchanged",
            count(Status::Created),
            count(Status::Updated),
            count(Status::Unchanged)
        )
    }

    pub fn print_text(&self) {
        let width = self
            .entries
            .iter()
            .map(|e| e.section.len() + 1 + e.logical.len())
            .max()
            .unwrap_or(0);
        let mut out = std::io::stdout().lock();
        for e in &self.entries {
            let name = format!("{}.{}", e.section, e.logical);
            let changes = match e.status {
                Status::Updated => format!("  ({})", e.changes.join(", ")),
                _ => String::new(),
            };
            let status = match (self.dry_run, e.status) {
                (true, Status::Created) => "to create",
                (true, Status::Updated) => "to update",
                (_, status) => status.as_str(),
            };
            let _ = writeln!(out, "{name:<width$}  {status:<9}  {}{changes}", e.arn);
        }
        let _ = writeln!(out, "{}", self.summary());
    }

    pub fn print_json(&self, account_id: &str, region: &str, complete: bool) {
        let resources: Vec<_> = self
            .entries
            .iter()
            .map(|e| {
                let mut item = json!({
                    "kind": e.section,
                    "name": e.logical,
                    "status": e.status.as_str(),
                    "changes": e.changes,
                    "arn": e.arn,
                });
                if let Some(map) = item.as_object_mut() {
                    for (k, v) in &e.extra {
                        map.insert((*k).to_owned(), v.clone());
                    }
                }
                item
            })
            .collect();
        let doc = json!({
            "complete": complete,
            "dry_run": self.dry_run,
            "changed": self.changed(),
            "summary": self.summary(),
            "account_id": account_id,
            "region": region,
            "resources": resources,
        });
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        );
    }
}
