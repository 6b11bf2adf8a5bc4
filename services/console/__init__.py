"""The clinic console: server-rendered screens over the five services' public HTTP APIs."""
