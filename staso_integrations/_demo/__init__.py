"""What ``staso-integrations demo`` runs: a LangChain support agent and its bundled cassette."""

AGENT_NAME = "support_agent"  # the create_agent graph's name: what traces show as its agent
