"""The offline demo world: real local servers, real feeds and pages, a config for them."""
