"""The several-instances use cases (`bot.usecases.instances`), one method each, as part of the `Snowbot`
facade (`Snowbot` inherits them: the surfaces still call one object). Holds no logic.
"""

from __future__ import annotations

from bot.usecases import instances
from bot.usecases.connections import Connections
from bot.usecases.instances import Instance
from bot.usecases.tickets import Tickets
from bot.usecases.values import AnomalyTickets
from storage.integrations import Integration


class InstanceUseCases:
    """`Snowbot`'s instance methods; `connections` and `tickets` are set by `Snowbot.__init__`."""

    connections: Connections
    tickets: Tickets

    async def anomaly_tickets(self, anomaly_id: int) -> AnomalyTickets:
        """`list_links` and the instances' names when there are several (`/snow tickets`)."""
        found = await self.tickets.list_links(anomaly_id=anomaly_id)
        return AnomalyTickets(found, instances.names(await self.connections.list_integrations()))

    async def instances(self) -> list[Instance]:
        """The ServiceNow instances a form offers, the default first (a choice only when several)."""
        return instances.choosable(await self.connections.list_integrations())

    async def instance_named(self, name: str) -> Integration:
        """The integration called `name` (`--instance`); `InvalidInput` listing the connected names."""
        found = instances.named(await self.connections.list_integrations(), name)
        return instances.checked(found, found.id)
