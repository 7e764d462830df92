"""Reuse records in the environment's DynamoDB table (one item per key).

Each item: the key (partition key), a version token, the record's JSON, the execution id, and
the expiry as epoch seconds in the table's TTL attribute (DynamoDB deletes expired items
within days; a read also treats an expired record as a miss). Each write is one conditional
PutItem — only where no item is, or where the item still has the token the writer read — so
two identical executions finishing at once leave one whole record, never a mixture.
"""

from __future__ import annotations

import uuid
from typing import Any

from runtime import contract
from runtime.reuse.records import ReuseRecord, Stored, parsed_record

KEY = contract.REUSE_KEY_ATTRIBUTE
TOKEN = "token"
BODY = "body"


class DynamoDbRecords:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    def get(self, key: str) -> Stored | None:
        reply = self.client.get_item(
            TableName=self.table, Key={KEY: {"S": key}}, ConsistentRead=True
        )
        item = reply.get("Item")
        if not isinstance(item, dict):
            return None
        body = _string(item.get(BODY))
        return Stored(
            record=parsed_record(body, key) if body else None, token=_string(item.get(TOKEN))
        )

    def put(self, record: ReuseRecord, *, replacing: Stored | None) -> bool:
        item = {
            KEY: {"S": record.key},
            TOKEN: {"S": uuid.uuid4().hex},
            BODY: {"S": record.model_dump_json()},
            "execution_id": {"S": record.execution_id},
            contract.REUSE_TTL_ATTRIBUTE: {"N": str(int(record.expires_at.timestamp()))},
        }
        arguments: dict[str, Any] = {"TableName": self.table, "Item": item}
        if replacing is None:
            arguments["ConditionExpression"] = "attribute_not_exists(#key)"
            arguments["ExpressionAttributeNames"] = {"#key": KEY}
        elif replacing.token is None:  # an item without a usable token: still so
            arguments["ConditionExpression"] = (
                "attribute_exists(#key) AND NOT attribute_type(#token, :string)"
            )
            arguments["ExpressionAttributeNames"] = {"#key": KEY, "#token": TOKEN}
            arguments["ExpressionAttributeValues"] = {":string": {"S": "S"}}
        else:
            arguments["ConditionExpression"] = "#token = :token"
            arguments["ExpressionAttributeNames"] = {"#token": TOKEN}
            arguments["ExpressionAttributeValues"] = {":token": {"S": replacing.token}}
        try:
            self.client.put_item(**arguments)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _string(value: object) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        text: str = value["S"]
        return text
    return None
