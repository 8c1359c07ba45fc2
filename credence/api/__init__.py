"""The GraphQL API: a strawberry schema served by uvicorn.

Each module has one job, and imports only the ones above it in this list
(``types.network`` names ``User`` for the type checker only):

=========================  ==========================================================
``keys``                   API keys: the key file, issue/list/revoke/rotate, live reload
``config``                 roles' limits and how the app behaves (``Limits``, ``ApiConfig``)
``ids``                    global ids and cursors, and the id rule
``asgi``                   ASGI plumbing: the callable types, reading a body
``tracing``                request ids: made or accepted, echoed, logged
``persisted``              persisted queries: automatic, and the allow-list
``guard``                  the HTTP door: body size, UTF-8, JSON shape, operations
``budget``                 per-key rate limits on estimated cost
``writer``                 the one writer thread: grouped, all-or-nothing changes
``workers``                several processes: the primary, followers, the change feed
``service``                the store, the engine, worker threads, pages, statistics
``limits``                 the depth, alias and cost validation rule
``context``                per-request state: permissions, loaders, audit entries
``loaders``                per-request DataLoaders
``scalars``                the ``DateTime`` scalar: ISO-8601 in UTC at the edge, epoch seconds inside
``inputs``                 input types and filters, and what they become
``extensions``             error codes and masking, the audit write, the parse cache, cost
``types``                  the object types, one module per area
``resolvers``              the root queries by area, mutations, the subscription
``schema``                 ``build_schema``: the pieces assembled
``graphiql``               the GraphiQL page and its assets from the package
``console``                the analyst console page (``/console``) and its assets from the package
``app``                    the ASGI app and the server
=========================  ==========================================================

Importing this package imports none of them.
"""
