"""One module per screen: each route turns a request into API calls and a template."""
