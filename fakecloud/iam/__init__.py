"""Identity and access management of the fake: identities, keys and RAM policies."""
