package portal

func (p *Portal) recoveryRoutes(add func(string, string, access, handlerFunc)) {}
