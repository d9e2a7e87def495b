"""The registry: registering models, creating and loading releases (snapshot, environment
lock, golden cases, verification at load) and comparing them."""
