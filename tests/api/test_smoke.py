def test_assistant_roundtrip(client):
    created = client.beta.assistants.create(model="gpt-4o", name="smoke")
    assert client.beta.assistants.retrieve(created.id).name == "smoke"
