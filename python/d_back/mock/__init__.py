"""Mock data for running d-back without a Discord bot.

The native core serves the same data (four servers, their users, and periodic
presence/message events) whenever no data callbacks are registered; this package keeps
upstream's `MockDataProvider` API for code that calls it directly:

```python
from d_back.mock import MockDataProvider

provider = MockDataProvider(None)
servers = provider.get_mock_server_data()
users = provider.get_mock_user_data("232769614004748288")
```
"""

from .data import MockDataProvider

__all__ = ["MockDataProvider"]
