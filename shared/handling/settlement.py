"""Dead-lettering a permanently failed message, the same call on both hosts.

Embedded (``BusSettlement``): the local host hands the function a real
``azure.functions.ServiceBusMessage`` carrying the lock token; the pipeline dead-letters
through the bus with the reason, and the host sees the message is already settled.

Azure (``RecordAndCompleteSettlement``): the Python worker's default binding cannot settle a
message, so a permanent failure is *recorded* (a ``deadletters`` document in the state store
with the reason, description and the full message) and the function returns normally, so the
host completes the message. It is never retried ``maxDeliveryCount`` times. Transient failures
raise, the host abandons, and Service Bus itself dead-letters after ``maxDeliveryCount``.
``factory dlq list`` shows both kinds; ``factory dlq resubmit`` republishes either.
"""

from __future__ import annotations

import base64

from shared.handling.decisions import MessageView
from shared.ports import Clock, MessageReceiver, StateStore

DEAD_LETTER_PARTITION = "deadletters"


class BusSettlement:
    def __init__(self, receiver: MessageReceiver) -> None:
        self.receiver = receiver
        self.settled: set[str] = set()

    def dead_letter(self, consumer: str, message: MessageView, reason: str, description: str) -> None:
        token = getattr(message, "lock_token", None)
        if not token:
            raise RuntimeError("embedded dead-lettering needs the message's lock token")
        self.receiver.dead_letter(str(token), reason, description[:4000])
        self.settled.add(str(token))


class RecordAndCompleteSettlement:
    def __init__(self, state: StateStore, clock: Clock) -> None:
        self.state = state
        self.clock = clock

    def dead_letter(self, consumer: str, message: MessageView, reason: str, description: str) -> None:
        body: bytes = message.get_body()
        self.state.upsert(DEAD_LETTER_PARTITION, f"{consumer}:{message.message_id}", {
            "consumer": consumer,
            "messageId": message.message_id,
            "reason": reason,
            "description": description[:4000],
            "deliveryCount": message.delivery_count,
            "applicationProperties": {k: v for k, v in dict(message.application_properties or {}).items()
                                      if isinstance(v, str | int | float | bool)},
            "bodyBase64": base64.b64encode(body).decode(),
            "deadLetteredAt": self.clock.now().isoformat(),
        })
