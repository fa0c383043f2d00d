"""What ``staso-integrations demo`` runs: a LangChain support agent and its bundled cassette."""
