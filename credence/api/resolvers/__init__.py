"""The root fields: queries by area, mutations and the subscription.

==================  ==========================================================
``users``           ``node``, ``user``, ``users``, statistics and the model
``analyst``         influence paths, clusters, SybilRank, communities, what-if
``audit``           the audit log
``viewer``          ``viewer``: the caller's key, role and the request limits
``mutations``       every mutation
``subscription``    ``scoreChanged``
==================  ==========================================================

:mod:`credence.api.schema` merges the four query classes into ``Query`` in that
order (the order of the fields in the SDL).
"""
