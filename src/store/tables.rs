//! What the admin tool does to the tables.
