"""The course assistant: hybrid retrieval over a course's live chunk sets, grounded answers with
citations (Groq through LangChain, or extractive without a key), conversations and feedback.

Layers: `text` and `domain` are pure (no I/O); `retrieval`, `store` and `generation` are adapters
(SQL, the LLM); `service` orchestrates one request; `bootstrap` wires them from settings.
"""
