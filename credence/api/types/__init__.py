"""The GraphQL object types, one module per area.

==============  ===============================================================
``pages``       ``PageInfo`` of every connection
``scores``      a score's components and reasons, a score change
``history``     stored score snapshots as a connection
``network``     a user's network value and its evidence (contributors, influence)
``fraud``       analyst tools: flags, influence paths, clusters, SybilRank, communities
``stats``       score statistics and histogram bins
``model``       the scoring model in force
``audit``       the audit log
``viewer``      the caller's key, role and the request limits
``consent``     a person's own records: consent history, adverse-action notices
``users``       ``Node``, ``User`` and the user and friend connections
``payloads``    what mutations and the subscription return
==============  ===============================================================

The modules import one another only downwards (``users`` sits above ``network``,
``history``, ``fraud``, ``consent`` and ``scores``; ``payloads`` above ``users``). The type graph
has one cycle, ``User -> Network -> Contributor -> User``: ``network`` names
``User`` lazily (``strawberry.lazy``) and is handed the function that builds users,
so the modules have no import cycle.
"""
