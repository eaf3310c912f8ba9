"""The `snowbot` console script (`snowbot.cli.main`; also `python -m snowbot`): the one place that knows
every command. It routes `run`, `sync` and `secret-key` to the bot (`bot.cli`) and `demo` and `emulate`
to the dev packages (`demo`, `emulators`), so `bot/` itself never imports those."""
