"""The only package that talks to DynamoDB.

Flows call whole operations named after what they do (``codes.spend_code_and_sign_in``,
``users.set_first_password`` ...) and get records or typed errors back; request shapes,
condition expressions and cancellation reasons never leave this package.

- ``marshalling``: Python values <-> DynamoDB attribute values.
- ``records``: the stored shapes (``UserRecord``).
- ``calls``: one DynamoDB call or transaction, with the retry and error mapping every
  operation shares.
- ``expressions``: expression pieces several operations write alike (``IN`` a hash's
  candidates, ``REMOVE`` sessions).
- ``users``, ``codes``, ``limits``, ``accounts`` (erasure), ``back_office`` (a user from the
  back office's data, for the admin API and the importer): the operations, each stating its
  precondition and round trips; ``refusals``: what they raise when a precondition did not hold.
- ``changes``: a record of the users table's stream, read into the item before and after.
"""
