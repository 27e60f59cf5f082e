"""The governance studio: drafts of diagrams, rules and forms, published as new versions in the browser."""
