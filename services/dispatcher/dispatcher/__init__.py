"""Dispatcher service: posts, video jobs and their state machine, brand assets, and the job API."""
