"""Interface Streamlit du chatbot du jour 2 : elle parle au backend (`chatbot_backend.py`) au format d'OpenAI.

    streamlit run day-02/chatbot_ui.py -- --api http://127.0.0.1:8000/v1

(ou la variable CHATBOT_API_URL). L'interface ne connaît ni le modèle ni la base vectorielle : elle envoie la
conversation à `POST /v1/chat/completions` avec le client `openai`, affiche la réponse et ses sources, et signale
un refus de la modération (`finish_reason == "content_filter"`).
"""

from __future__ import annotations

import argparse
import os

import openai
import streamlit as st

parser = argparse.ArgumentParser()
parser.add_argument("--api", default=os.environ.get("CHATBOT_API_URL", "http://127.0.0.1:8000/v1"))
API_URL = parser.parse_known_args()[0].api


@st.cache_resource
def api_client(url: str) -> openai.OpenAI:
    # un seul client par processus Streamlit (le script est réexécuté à chaque interaction)
    return openai.OpenAI(base_url=url, api_key=os.environ.get("CHATBOT_API_KEY", "cours-llm"), max_retries=0)


def show_sources(sources: list[dict]) -> None:
    if sources:
        st.markdown("**Sources**")
        for source in sources:
            st.markdown(f"- `{source['id']}` (score {source['score']:.2f})")


st.set_page_config(page_title="Chatbot du cours", page_icon="💬")
st.title("Chatbot de la documentation Python")
st.caption(f"RAG (FAISS + modèle servi par vLLM), modération des entrées et des sorties · API : {API_URL}")

if "messages" not in st.session_state:
    st.session_state.messages = []  # la mémoire de la conversation : elle vit dans la session du navigateur

for message in st.session_state.messages:
    with st.chat_message(message["role"]):
        st.markdown(message["content"])
        show_sources(message.get("sources", []))

if question := st.chat_input("Posez une question sur la bibliothèque standard"):
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        history = [{"role": m["role"], "content": m["content"]} for m in st.session_state.messages]
        try:
            with st.spinner("Recherche dans la documentation…"):
                reply = api_client(API_URL).chat.completions.create(model="cours/chatbot-rag", messages=history)
        except openai.OpenAIError as exc:
            st.error(f"Le backend ne répond pas : {exc}")
            st.stop()
        content = reply.choices[0].message.content
        sources = (reply.model_extra or {}).get("sources", [])
        if reply.choices[0].finish_reason == "content_filter":
            st.warning("Demande refusée par la modération.")
        st.markdown(content)
        show_sources(sources)
    st.session_state.messages.append({"role": "assistant", "content": content, "sources": sources})
