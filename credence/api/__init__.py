"""The GraphQL API: a strawberry schema served by uvicorn.

Each module has one job, and imports only the ones above it in this list
(``types.network`` names ``User`` for the type checker only):

=========================  ==========================================================
``config``                 API keys, roles, limits, server settings
``ids``                    global ids and cursors, and the id rule
``service``                the store, the engine, worker threads, pages, statistics
``limits``                 the depth, alias and cost validation rule
``context``                per-request state: permissions, loaders, audit entries
``loaders``                per-request DataLoaders
``inputs``                 input types and filters, and what they become
``extensions``             error codes and masking, the audit write, the parse cache
``types``                  the object types, one module per area
``resolvers``              the root queries by area, mutations, the subscription
``schema``                 ``build_schema``: the pieces assembled
``app``                    the ASGI app and the server
=========================  ==========================================================

Importing this package imports none of them.
"""
