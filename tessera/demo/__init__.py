"""The demo company: a deterministic generator of messy customer data and a local CRM API."""
