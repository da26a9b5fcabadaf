-- Words the live chat refuses in viewers' messages, per organisation (a JSON list).
ALTER TABLE orgs ADD COLUMN blocked_words TEXT NOT NULL DEFAULT '[]';
